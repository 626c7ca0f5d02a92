//! A Postgres cluster of the chaos run's own, in a temporary directory on a free port,
//! so that restarting it (a crash: `pg_ctl stop -m immediate`) disturbs nobody else; or,
//! for `--failover`, a primary with a synchronous streaming standby (`pg_basebackup -R`),
//! the primary killed with -9 and the standby promoted.

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

/// A primary and its synchronous standby: a commit the primary acknowledges is on the
/// standby too (`synchronous_standby_names = '*'`, `synchronous_commit = on`).
pub struct Pair {
    pub primary: PrivatePostgres,
    pub standby: PrivatePostgres,
    /// Dropped last, after both clusters: their common directory.
    _dir: RemovedOnDrop,
}

struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Pair {
    /// A primary under `dir/primary` on `ports.0`, a standby copied from it with
    /// `pg_basebackup -R` under `dir/standby` on `ports.1`, streaming synchronously.
    pub fn start(bin: Option<PathBuf>, dir: PathBuf, ports: (u16, u16)) -> Result<Pair> {
        let removed = RemovedOnDrop(dir.clone());
        let primary = PrivatePostgres::start(bin, dir.join("primary"), ports.0)?;
        let standby = primary.standby(dir.join("standby"), ports.1)?;
        // Only now: a synchronous primary without its standby would wait forever.
        primary.psql("alter system set synchronous_standby_names = '*'")?;
        primary.psql("select pg_reload_conf()")?;
        Ok(Pair {
            primary,
            standby,
            _dir: removed,
        })
    }

    /// libpq's multi-host URL naming both, writable one wanted.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{database}?target_session_attrs=read-write",
            self.primary.port, self.standby.port
        )
    }

    /// The primary's machine dies: its postmaster and every backend, `kill -9`.
    pub fn kill_primary(&self) -> Result<()> {
        self.primary.kill9()
    }

    /// `pg_ctl promote`: the standby becomes the primary, waiting until it accepts writes.
    pub fn promote_standby(&self) -> Result<()> {
        self.standby.pg(
            "pg_ctl",
            &[
                "-D",
                &self.standby.data().to_string_lossy(),
                "-w",
                "promote",
            ],
        )
    }
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

    /// A standby of this cluster under `dir` on `port`: `pg_basebackup -R` (which writes
    /// `standby.signal` and `primary_conninfo`), then started.
    fn standby(&self, dir: PathBuf, port: u16) -> Result<PrivatePostgres> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        if self.run_as_postgres {
            run(Command::new("chown").arg("-R").arg("postgres").arg(&dir))?;
        }
        let standby = PrivatePostgres {
            dir,
            bin: self.bin.clone(),
            port,
            run_as_postgres: self.run_as_postgres,
        };
        standby.pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-D",
                &standby.data().to_string_lossy(),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        )?;
        standby.up()?;
        Ok(standby)
    }

    /// One statement through `psql` on the `postgres` database.
    fn psql(&self, sql: &str) -> Result<()> {
        self.pg(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-qc",
                sql,
            ],
        )
    }

    /// `kill -9` of the postmaster and of each of its children, read from `/proc` before
    /// the postmaster dies: nothing of the server is left to answer or to flush.
    fn kill9(&self) -> Result<()> {
        let pid_file = self.data().join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("reading {}", pid_file.display()))?;
        let postmaster = text.lines().next().unwrap_or_default().trim().to_string();
        let children =
            std::fs::read_to_string(format!("/proc/{postmaster}/task/{postmaster}/children"))
                .unwrap_or_default();
        let mut kill = Command::new("kill");
        kill.arg("-9").arg(&postmaster);
        kill.args(children.split_whitespace());
        // A child that exited meanwhile makes kill complain; the postmaster is what counts.
        let _ = kill.output();
        // SIGKILL is delivered asynchronously: the process may still be listed, not yet a
        // zombie, for a moment after `kill` returns.
        let alive = || {
            std::path::Path::new(&format!("/proc/{postmaster}")).exists()
                && !std::fs::read_to_string(format!("/proc/{postmaster}/stat"))
                    .unwrap_or_default()
                    .contains(") Z ")
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while alive() {
            if std::time::Instant::now() > deadline {
                bail!("postmaster {postmaster} survived kill -9");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(())
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
