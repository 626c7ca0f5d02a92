//! TLS on the API's listener (rustls), for deployments without a mesh or an ingress that
//! terminates it: the certificate chain and key come from PEM files
//! (`CAIRN_TLS_CERT`, `CAIRN_TLS_KEY`), re-read when they change, so a renewed
//! certificate (cert-manager rewriting a mounted Secret) is served on the next handshake
//! with no restart.
//!
//! [`Certificates`] is rustls's certificate resolver: at each handshake it compares the
//! files' modification times and lengths with those of the pair in memory (two `stat`s)
//! and reloads on a change. A pair that does not load (half-written, a key that does not
//! match) keeps the last good one in service and logs an error.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio::sync::watch;

type Stamp = Option<(SystemTime, u64)>;

/// The certificate and key files, and the pair loaded from them.
#[derive(Debug)]
pub struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    loaded: Mutex<(Stamp, Stamp, Arc<CertifiedKey>)>,
}

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing the TLS certificate {}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", cert.display());
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the TLS key {}", key.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, private, &provider)
        .with_context(|| format!("the TLS key {} does not fit the certificate", key.display()))?;
    Ok(Arc::new(certified))
}

impl Certificates {
    /// Loads the pair once; an error here stops start-up.
    pub fn load(cert: PathBuf, key: PathBuf) -> Result<Certificates> {
        let (cert_stamp, key_stamp) = (stamp(&cert), stamp(&key));
        let pair = load(&cert, &key)?;
        Ok(Certificates {
            cert,
            key,
            loaded: Mutex::new((cert_stamp, key_stamp, pair)),
        })
    }

    fn current(&self) -> Option<Arc<CertifiedKey>> {
        let mut loaded = self.loaded.lock().ok()?;
        let (cert_stamp, key_stamp) = (stamp(&self.cert), stamp(&self.key));
        if (cert_stamp, key_stamp) != (loaded.0, loaded.1) {
            match load(&self.cert, &self.key) {
                Ok(pair) => {
                    tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                    *loaded = (cert_stamp, key_stamp, pair);
                }
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "TLS certificate not reloaded: the last good one stays in service");
                    loaded.0 = cert_stamp;
                    loaded.1 = key_stamp;
                }
            }
        }
        Some(loaded.2.clone())
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

/// The rustls configuration serving `certificates`, HTTP/2 and HTTP/1.1 by ALPN.
pub fn server_config(certificates: Arc<Certificates>) -> Result<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves `app` over TLS on `listener` until `stopping` turns true: then no new
/// connection is accepted, and those open finish their requests while the process stops.
pub async fn serve(
    listener: TcpListener,
    config: rustls::ServerConfig,
    app: axum::Router,
    mut stopping: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            // The guard `wait_for` returns is not `Send`: dropped inside.
            _ = async { let _ = stopping.wait_for(|s| *s).await; } => return,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let tls = match acceptor.accept(stream).await {
                Ok(tls) => tls,
                Err(error) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            if let Err(error) = builder
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway certificate and key made by the `openssl` command, in `dir`.
    fn make_pair(dir: &Path, name: &str) -> Option<(PathBuf, PathBuf)> {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        let status = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", &format!("/CN={name}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some((cert, key))
    }

    #[test]
    fn a_changed_pair_is_reloaded_and_a_broken_one_keeps_the_last_good() {
        let dir = std::env::temp_dir().join(format!("cairn-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let Some((cert, key)) = make_pair(&dir, "first") else {
            panic!("the openssl command is needed to make a test certificate");
        };
        let certificates = Certificates::load(cert.clone(), key.clone()).expect("loads");
        let first = certificates.current().expect("a pair");
        let (second_cert, second_key) = make_pair(&dir, "second").expect("second pair");
        std::fs::copy(&second_cert, &cert).expect("replace cert");
        std::fs::copy(&second_key, &key).expect("replace key");
        let second = certificates.current().expect("a pair");
        assert_ne!(
            first.cert[0], second.cert[0],
            "the new certificate is served"
        );
        std::fs::write(&key, "not a key").expect("break the key");
        let kept = certificates.current().expect("a pair");
        assert_eq!(kept.cert[0], second.cert[0], "the last good pair stays");
        assert!(Certificates::load(cert.clone(), dir.join("missing.key")).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
