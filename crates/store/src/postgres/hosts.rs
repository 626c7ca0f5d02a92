//! Connection strings that name several servers, in libpq's syntax:
//! `postgres://user@h1:5432,h2:5432/cairn?target_session_attrs=read-write`.
//!
//! sqlx 0.9 reads one host per URL (its URL parser refuses `h1:p1,h2:p2` as a port), so
//! the list is split here and each server gets a URL of its own that sqlx does read. A
//! Postgres primary with a standby (CloudNativePG, Patroni, a pair with `pg_basebackup`)
//! is then one setting: Cairn talks to whichever of them is writable (see `primary`).

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

/// A bad `DATABASE_URL`, told at start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConnectStringError {
    #[error("the database URL must start with postgres:// or postgresql://")]
    Scheme,
    #[error("the database URL's host list has an empty entry: {0:?}")]
    EmptyHost(String),
    #[error("the database URL's host {0:?} has a port that is not a number from 1 to 65535")]
    Port(String),
    #[error("the database URL's host {0:?}: a Unix socket path cannot be one of several hosts")]
    SocketInList(String),
    #[error(
        "target_session_attrs={0:?} is not supported: Cairn writes, so it takes `read-write` \
         (or `primary`), or `any` with a single host"
    )]
    SessionAttrs(String),
    #[error("the database URL names {0} hosts with target_session_attrs=any: with several hosts Cairn needs `read-write`")]
    AnyWithSeveralHosts(usize),
    #[error("the database URL for host {host:?} is not valid: {reason}")]
    Invalid { host: String, reason: String },
}

/// Which server of the list a connection may stay on (libpq's `target_session_attrs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionAttrs {
    /// Any server that accepts the connection: one host, no check.
    Any,
    /// Only a server that is not in recovery, i.e. the primary. The default when the URL
    /// names several hosts, since Cairn cannot work on a standby.
    ReadWrite,
}

/// One server of the list: where it is, and how sqlx connects to it.
#[derive(Clone, Debug)]
pub struct Server {
    /// `host:port` as written, for logs.
    pub name: String,
    /// The URL with this server as its only host (credentials included).
    pub url: String,
    pub options: PgConnectOptions,
}

/// A parsed `DATABASE_URL`: the servers in the order given, and what a connection needs
/// from the one it lands on.
#[derive(Clone, Debug)]
pub struct ConnectTarget {
    pub servers: Vec<Server>,
    pub session: SessionAttrs,
}

impl ConnectTarget {
    /// Whether connections must be checked and follow the writable server.
    pub fn follows_primary(&self) -> bool {
        self.session == SessionAttrs::ReadWrite
    }
}

impl FromStr for ConnectTarget {
    type Err = ConnectStringError;

    fn from_str(url: &str) -> Result<ConnectTarget, ConnectStringError> {
        let scheme_end = ["postgres://", "postgresql://"]
            .iter()
            .find_map(|scheme| url.starts_with(scheme).then_some(scheme.len()))
            .ok_or(ConnectStringError::Scheme)?;
        let rest = &url[scheme_end..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        // The password may hold '@' only percent-encoded, but a user name written
        // `user@host` may not: the last '@' ends the credentials, as libpq reads it.
        let (credentials, hostlist) = match authority.rfind('@') {
            Some(at) => (&authority[..=at], &authority[at + 1..]),
            None => ("", authority),
        };
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (tail, None),
        };

        let mut session = None;
        let mut kept = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("target_session_attrs", value)) => session = Some(value.to_string()),
                _ if pair.is_empty() => {}
                _ => kept.push(pair),
            }
        }
        let hosts: Vec<&str> = hostlist.split(',').collect();
        let session = match session.as_deref() {
            None if hosts.len() > 1 => SessionAttrs::ReadWrite,
            None | Some("any") => SessionAttrs::Any,
            Some("read-write" | "primary") => SessionAttrs::ReadWrite,
            Some(other) => return Err(ConnectStringError::SessionAttrs(other.to_string())),
        };
        if hosts.len() > 1 && session == SessionAttrs::Any {
            return Err(ConnectStringError::AnyWithSeveralHosts(hosts.len()));
        }
        let query = if kept.is_empty() {
            String::new()
        } else {
            format!("?{}", kept.join("&"))
        };

        let mut servers = Vec::with_capacity(hosts.len());
        for host in &hosts {
            if hosts.len() > 1 {
                check_listed_host(host)?;
            }
            let single = format!("{}{credentials}{host}{path}{query}", &url[..scheme_end]);
            let options =
                PgConnectOptions::from_str(&single).map_err(|e| ConnectStringError::Invalid {
                    host: host.to_string(),
                    reason: e.to_string(),
                })?;
            servers.push(Server {
                name: format!("{}:{}", options.get_host(), options.get_port()),
                url: single,
                options,
            });
        }
        Ok(ConnectTarget { servers, session })
    }
}

/// One entry of a list of several hosts: `name`, `name:port`, `[v6]` or `[v6]:port`.
fn check_listed_host(host: &str) -> Result<(), ConnectStringError> {
    if host.is_empty() {
        return Err(ConnectStringError::EmptyHost(host.to_string()));
    }
    let decoded = host.replace("%2F", "/").replace("%2f", "/");
    if decoded.starts_with('/') {
        return Err(ConnectStringError::SocketInList(host.to_string()));
    }
    let port = if let Some(v6) = host.strip_prefix('[') {
        match v6.split_once(']') {
            Some((_, "")) => None,
            Some((_, port)) => Some(
                port.strip_prefix(':')
                    .ok_or_else(|| ConnectStringError::Port(host.to_string()))?,
            ),
            None => return Err(ConnectStringError::Port(host.to_string())),
        }
    } else {
        host.split_once(':').map(|(_, port)| port)
    };
    let name = host.split(':').next().unwrap_or_default();
    if name.is_empty() {
        return Err(ConnectStringError::EmptyHost(host.to_string()));
    }
    match port {
        None => Ok(()),
        Some(port) => match port.parse::<u16>() {
            Ok(p) if p > 0 => Ok(()),
            _ => Err(ConnectStringError::Port(host.to_string())),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(url: &str) -> Result<ConnectTarget, ConnectStringError> {
        url.parse()
    }

    #[test]
    fn one_host_is_one_server_with_no_check() {
        let target = parse("postgres://postgres@127.0.0.1:5432/cairn").unwrap();
        assert_eq!(target.servers.len(), 1);
        assert_eq!(target.session, SessionAttrs::Any);
        assert!(!target.follows_primary());
        assert_eq!(target.servers[0].options.get_port(), 5432);
        assert_eq!(target.servers[0].options.get_database(), Some("cairn"));
    }

    #[test]
    fn several_hosts_keep_their_order_credentials_database_and_options() {
        let target = parse(
            "postgresql://app:s%40cret@db-a:5441,db-b:5442,db-c/cairn?sslmode=disable&target_session_attrs=read-write&application_name=x",
        )
        .unwrap();
        assert_eq!(target.session, SessionAttrs::ReadWrite);
        let names: Vec<_> = target.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db-a:5441", "db-b:5442", "db-c:5432"]);
        for server in &target.servers {
            assert_eq!(server.options.get_username(), "app");
            assert_eq!(server.options.get_database(), Some("cairn"));
            assert!(!server.url.contains("target_session_attrs"));
            assert!(server.url.contains("application_name=x"));
            assert!(server.url.contains("s%40cret"));
        }
    }

    #[test]
    fn several_hosts_follow_the_primary_even_unasked() {
        let target = parse("postgres://h1:1,h2:2/db").unwrap();
        assert!(target.follows_primary());
        let target = parse("postgres://h1:1/db?target_session_attrs=primary").unwrap();
        assert!(target.follows_primary());
    }

    #[test]
    fn ipv6_hosts_in_a_list() {
        let target = parse("postgres://u@[::1]:5441,[::1]:5442/db").unwrap();
        let ports: Vec<_> = target
            .servers
            .iter()
            .map(|s| s.options.get_port())
            .collect();
        assert_eq!(ports, [5441, 5442]);
    }

    #[test]
    fn bad_strings_are_clear_errors() {
        use ConnectStringError::*;
        let cases: &[(&str, ConnectStringError)] = &[
            ("mysql://h/db", Scheme),
            ("h1:5432,h2:5432/db", Scheme),
            ("postgres://h1:5432,,h2/db", EmptyHost(String::new())),
            ("postgres://h1:5432,/db", EmptyHost(String::new())),
            ("postgres://h1:5432,:5433/db", EmptyHost(":5433".into())),
            ("postgres://h1:54x2,h2/db", Port("h1:54x2".into())),
            ("postgres://h1:0,h2/db", Port("h1:0".into())),
            ("postgres://h1:70000,h2/db", Port("h1:70000".into())),
            ("postgres://h1,[::1/db", Port("[::1".into())),
            ("postgres://%2Ftmp,h2/db", SocketInList("%2Ftmp".into())),
            (
                "postgres://h1,h2/db?target_session_attrs=read-only",
                SessionAttrs("read-only".into()),
            ),
            (
                "postgres://h1/db?target_session_attrs=standby",
                SessionAttrs("standby".into()),
            ),
            (
                "postgres://h1,h2/db?target_session_attrs=any",
                AnyWithSeveralHosts(2),
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(parse(url).err().as_ref(), Some(expected), "{url}");
        }
        assert!(matches!(
            parse("postgres://h1,h2/db?sslmode=sometimes"),
            Err(Invalid { .. })
        ));
    }

    fn host() -> impl Strategy<Value = (String, Option<u16>)> {
        (
            "[a-z][a-z0-9-]{0,12}(\\.[a-z][a-z0-9]{0,6}){0,2}",
            proptest::option::of(1u16..),
        )
    }

    proptest! {
        /// Any list of well-formed hosts parses to the same servers in the same order.
        #[test]
        fn a_list_of_hosts_round_trips(hosts in proptest::collection::vec(host(), 1..6),
                                       database in "[a-z_][a-z0-9_]{0,10}") {
            let list: Vec<String> = hosts
                .iter()
                .map(|(h, p)| p.map_or_else(|| h.clone(), |p| format!("{h}:{p}")))
                .collect();
            let url = format!("postgres://cairn@{}/{database}?target_session_attrs=read-write", list.join(","));
            let target = parse(&url).unwrap();
            prop_assert_eq!(target.servers.len(), hosts.len());
            for (server, (h, p)) in target.servers.iter().zip(&hosts) {
                prop_assert_eq!(server.options.get_host(), h.as_str());
                prop_assert_eq!(server.options.get_port(), p.unwrap_or(5432));
                prop_assert_eq!(server.options.get_database(), Some(database.as_str()));
                prop_assert_eq!(server.options.get_username(), "cairn");
            }
        }

        /// Whatever the string, parsing answers (a target or an error) and never panics.
        #[test]
        fn any_string_is_an_answer(url in "postgres(ql)?://[a-z0-9:@,/?=&%\\[\\]._-]{0,40}") {
            let _ = parse(&url);
        }
    }
}
