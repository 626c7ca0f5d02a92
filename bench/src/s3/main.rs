//! `cairn-s3-bench`: the Distributed Map's streaming CSV reader against moto's S3 server.
//!
//! ```sh
//! cargo build --release -p cairn-bench
//! target/release/cairn-s3-bench --rows 100000
//! ```
//!
//! Starts moto (`python -m moto.server` from `--python`, default the venv
//! `scripts/test.sh` builds), puts a CSV of `--rows` rows (uploaded in 5 MiB parts, so
//! the file is never whole in this process either), resets the process's peak RSS
//! (`/proc/self/clear_refs`), then reads every row through `ItemStream` as the engine
//! would and reports items/s, MB/s and the peak RSS of the read.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_credential_types::Credentials;
use cairn_asl::distributed::config::{
    CsvDelimiter, CsvFormat, CsvHeaders, ItemReader, ObjectFormat, Source,
};
use cairn_worker::s3::{ItemStream, S3Client, S3Config};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Items/s and peak RSS of the streaming CSV item reader against moto's S3")]
struct Args {
    /// Rows of the CSV (after its header).
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// The Python that has moto[server].
    #[arg(long, default_value = "target/e2e-venv/bin/python")]
    python: String,
}

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn row(i: u64) -> String {
    format!(
        "{i},customer-{i},\"{} Main Street, Springfield\",{}.{:02},2026-01-{:02}T10:00:00Z,\"note with \"\"quotes\"\" and, commas for row {i}\"\n",
        i % 9999,
        i % 1000,
        i % 100,
        i % 28 + 1
    )
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(&args.python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting moto with {}", args.python))?;
    let _moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("moto did not listen on {port}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = S3Client::new(
        S3Config {
            region: "us-east-1".into(),
            endpoint: Some(format!("http://127.0.0.1:{port}").parse()?),
            force_path_style: false,
        },
        Credentials::new("bench", "bench", None, None, "bench"),
    )?;
    client.create_bucket("bench").await?;

    // Upload in parts generated on the fly.
    let key = "rows.csv";
    let upload = client
        .create_multipart_upload("bench", key, "text/csv")
        .await?;
    let mut parts = Vec::new();
    let mut part = String::from("id,name,address,amount,date,note\n");
    let mut bytes: u64 = 0;
    for i in 0..args.rows {
        part.push_str(&row(i));
        if part.len() >= 5 * 1024 * 1024 || i + 1 == args.rows {
            bytes += part.len() as u64;
            let number = parts.len() as u32 + 1;
            let body = std::mem::take(&mut part).into_bytes();
            let etag = client
                .upload_part("bench", key, &upload, number, body)
                .await?;
            parts.push((number, etag));
        }
    }
    client
        .complete_multipart_upload("bench", key, &upload, &parts)
        .await?;

    // Peak RSS from here on is the read's.
    std::fs::write("/proc/self/clear_refs", "5").context("resetting the peak RSS")?;
    let before = status_kib("VmRSS:").unwrap_or(0);
    let reader = ItemReader {
        source: Source::Object {
            bucket: "bench".into(),
            key: key.into(),
            version_id: None,
            format: ObjectFormat::Csv(CsvFormat {
                headers: CsvHeaders::FirstRow,
                delimiter: CsvDelimiter::Comma,
            }),
        },
        max_items: None,
    };
    let started = Instant::now();
    let mut stream = ItemStream::open(&client, &reader, 0).map_err(|f| anyhow::anyhow!("{f:?}"))?;
    let mut count = 0u64;
    let mut last = serde_json::Value::Null;
    while let Some(next) = stream.next().await {
        let (_, item) = next.map_err(|f| anyhow::anyhow!("{f:?}"))?;
        count += 1;
        last = item;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:").unwrap_or(0);
    if count != args.rows {
        bail!("read {count} items, expected {}", args.rows);
    }
    println!(
        "rows {count}  file {:.1} MB  read {:.2} s  {:.0} items/s  {:.1} MB/s  RSS before {:.1} MB  peak RSS during the read {:.1} MB",
        bytes as f64 / 1e6,
        elapsed,
        count as f64 / elapsed,
        bytes as f64 / 1e6 / elapsed,
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!("last item: {last}");
    Ok(())
}
