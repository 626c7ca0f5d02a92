//! What every call of an AWS API shares: where the service is ([`endpoint`]), how a
//! request is signed ([`sigv4`]), sending it ([`request`]), and how AWS's answers become
//! what Step Functions shows: service errors named `<Service>.<Exception>` ([`errors`])
//! and the `SdkHttpMetadata`/`SdkResponseMetadata` that optimized integrations add to a
//! result ([`metadata`]).
//!
//! No request to an AWS API carries [`crate::IDEMPOTENCY_HEADER`]: AWS services would
//! ignore it (they de-duplicate only on their own fields, such as SQS's and SNS's
//! `MessageDeduplicationId` on FIFO queues and topics), so it would only lengthen the
//! signed request. A service integration is invoked at least once, like every target.

pub(crate) mod endpoint;
pub(crate) mod errors;
pub(crate) mod metadata;
pub(crate) mod query;
pub(crate) mod request;
pub(crate) mod sigv4;
