//! An S3 failure, and the error a Distributed Map reports for it.
//!
//! Step Functions reports an S3 failure of an item reader as `States.ItemReaderFailed`
//! and of a result writer as `States.ResultWriterFailed`; the cause is the S3 error as
//! the AWS SDK for Java words it, as Cairn's other AWS integrations do:
//! `The specified key does not exist. (Service: Amazon S3; Status Code: 404; Error Code:
//! NoSuchKey; Request ID: …; S3 Extended Request ID: …; Proxy: null)`. A request that
//! got no answer says `Unable to execute HTTP request to <url>: <reason>`.

use cairn_asl::error::{names, Failure};

/// What went wrong talking to S3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3Error {
    /// S3 answered with an error.
    #[error("{} (Service: Amazon S3; Status Code: {status}; Error Code: {code}; Request ID: {}; S3 Extended Request ID: {}; Proxy: null)",
        message.as_deref().unwrap_or(code), request_id.as_deref().unwrap_or(""), host_id.as_deref().unwrap_or(""))]
    Service {
        status: u16,
        /// `NoSuchKey`, `NoSuchBucket`, `AccessDenied`, …
        code: String,
        message: Option<String>,
        request_id: Option<String>,
        host_id: Option<String>,
    },
    /// The request could not be sent or its answer not read.
    #[error("Unable to execute HTTP request to {url}: {reason}")]
    Transport { url: String, reason: String },
    /// Something on Cairn's side: signing, an unreadable answer.
    #[error("{0}")]
    Client(String),
}

impl S3Error {
    pub(crate) fn service(
        status: u16,
        code: String,
        message: Option<String>,
        request_id: Option<String>,
        host_id: Option<String>,
    ) -> S3Error {
        S3Error::Service {
            status,
            code,
            message,
            request_id,
            host_id,
        }
    }

    pub(crate) fn transport(url: &str, reason: &str) -> S3Error {
        S3Error::Transport {
            url: url.to_string(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn client(message: String) -> S3Error {
        S3Error::Client(message)
    }

    /// S3's error code, for a service error.
    pub fn code(&self) -> Option<&str> {
        match self {
            S3Error::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// `States.ItemReaderFailed` with this error as its cause.
    pub fn item_reader_failed(&self) -> Failure {
        Failure::new(names::ITEM_READER_FAILED, self.to_string())
    }

    /// `States.ResultWriterFailed` with this error as its cause.
    pub fn result_writer_failed(&self) -> Failure {
        Failure::new(names::RESULT_WRITER_FAILED, self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_read_as_the_sdk_words_them() {
        let e = S3Error::service(
            404,
            "NoSuchKey".into(),
            Some("The specified key does not exist.".into()),
            Some("r-1".into()),
            Some("h-1".into()),
        );
        let f = e.item_reader_failed();
        assert_eq!(f.error, "States.ItemReaderFailed");
        assert_eq!(f.cause.as_deref(), Some("The specified key does not exist. (Service: Amazon S3; Status Code: 404; Error Code: NoSuchKey; Request ID: r-1; S3 Extended Request ID: h-1; Proxy: null)"));
        let e = S3Error::service(403, "AccessDenied".into(), None, None, None);
        assert_eq!(e.result_writer_failed().error, "States.ResultWriterFailed");
        assert!(e
            .to_string()
            .starts_with("AccessDenied (Service: Amazon S3; Status Code: 403;"));
        assert_eq!(
            S3Error::transport("http://x/", "refused").to_string(),
            "Unable to execute HTTP request to http://x/: refused"
        );
    }
}
