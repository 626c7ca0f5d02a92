//! A Postgres cluster of the chaos run's own, in a temporary directory on a free port,
//! so that restarting it (a crash: `pg_ctl stop -m immediate`) disturbs nobody else.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// A running private cluster. Dropping it stops the server and removes its directory.
pub struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Postgres refuses to run as root: as root, its commands run as `postgres`.
    run_as_postgres: bool,
}

impl PrivatePostgres {
    /// `initdb` and start a cluster under `dir` (created, and owned by `postgres` when we
    /// are root) listening on 127.0.0.1:`port` with trust authentication.
    pub fn start(bin: Option<PathBuf>, dir: PathBuf, port: u16) -> Result<PrivatePostgres> {
        let bin = match bin {
            Some(bin) => bin,
            None => find_bin()?,
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let run_as_postgres = is_root();
        if run_as_postgres {
            run(Command::new("chown").arg("-R").arg("postgres").arg(&dir))?;
        }
        let cluster = PrivatePostgres {
            dir,
            bin,
            port,
            run_as_postgres,
        };
        cluster.pg(
            "initdb",
            &[
                "-D",
                &cluster.data().to_string_lossy(),
                "--auth=trust",
                "--username=postgres",
                "--no-sync",
                "--encoding=UTF8",
            ],
        )?;
        cluster.up()?;
        Ok(cluster)
    }

    /// `postgres://postgres@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A crash and a recovery: stop without a checkpoint (`-m immediate`, as if the
    /// machine lost power), then start again, which replays the WAL.
    pub fn crash_and_restart(&self) -> Result<()> {
        self.down("immediate")?;
        self.up()
    }

    /// The server's log, for a report when something went wrong.
    pub fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn up(&self) -> Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            self.dir.display()
        );
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-l",
                &self.log().to_string_lossy(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )
    }

    fn down(&self, mode: &str) -> Result<()> {
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-m",
                mode,
                "-w",
                "stop",
            ],
        )
    }

    fn pg(&self, program: &str, args: &[&str]) -> Result<()> {
        let program = self.bin.join(program);
        let mut command = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command.args(args).current_dir(&self.dir);
        run(&mut command)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.down("immediate");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` in it (Debian's layout),
/// else the directory of an `initdb` on the PATH.
fn find_bin() -> Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").exists())
        .context("no initdb found: install Postgres's server binaries or pass --pg-bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
