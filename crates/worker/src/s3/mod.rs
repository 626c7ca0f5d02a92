//! S3 for the Distributed Map: a client for any S3-compatible store ([`client`]), the
//! item readers that stream an `ItemReader`'s items out of it ([`reader`]), and the
//! result writer that streams a `ResultWriter`'s files into it ([`writer`]). The
//! formats themselves (CSV, JSON, batching, the files' records) are the pure parts in
//! `cairn_asl::distributed`.
//!
//! The engine's Distributed Map calls them through two internal tasks: [`items`] reads
//! a Map's items, [`results`] writes its results (see `docs/asl-support.md`).

pub mod client;
pub mod error;
mod inventory;
pub mod items;
pub mod reader;
pub mod results;
pub mod writer;

pub use client::{ListPage, ObjectBody, ObjectSummary, S3Client, S3Config};
pub use error::S3Error;
pub use reader::ItemStream;
pub use writer::ResultUpload;
