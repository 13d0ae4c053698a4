//! Connections: libpq connection strings (URL and `key=value` forms), the full set of
//! `sslmode`s with `sslrootcert`, TLS through rustls with SNI, redaction of passwords for
//! anything printed, and the session settings every connection gets.

mod dsql;
mod tls;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, NoTls};
use tracing::instrument::WithSubscriber;

use crate::error::{Error, ErrorKind, Result};

/// How TLS is used, as libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsMode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it (libpq's default); `allow` means the same here.
    Prefer,
    /// TLS required; the certificate is checked against `sslrootcert` only if one is given.
    Require,
    /// TLS required, the certificate chain checked against the root certificates.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host.
    VerifyFull,
}

impl TlsMode {
    fn parse(value: &str) -> Result<TlsMode> {
        Ok(match value {
            "disable" => TlsMode::Disable,
            "allow" | "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            other => {
                return Err(Error::config(format!(
                    "unknown sslmode '{other}' (expected disable, allow, prefer, require, \
                     verify-ca or verify-full)"
                )));
            }
        })
    }

    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }
}

/// Settings that make values print the same way on every server, for sessions that move
/// rows in COPY's text form or compare rendered values.
pub(crate) const CANONICAL_FORMAT: &str = "SET datestyle = 'ISO, MDY'; \
     SET intervalstyle = 'postgres'; SET extra_float_digits = 3; SET timezone = 'UTC'; \
     SET bytea_output = 'hex'";

/// [`CANONICAL_FORMAT`] without `bytea_output`, for a server that prints `bytea` only in
/// hex and refuses the setting (Aurora DSQL).
pub(crate) const CANONICAL_OUTPUT: &str = "SET datestyle = 'ISO, MDY'; \
     SET intervalstyle = 'postgres'; SET extra_float_digits = 3; SET timezone = 'UTC'";

/// Which side of the migration a connection serves (used in messages and settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Source,
    Target,
}

impl Side {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
}

/// A parsed connection string: where to connect, how to secure it, and a printable form
/// without the password.
#[derive(Clone)]
pub struct Endpoint {
    pg: tokio_postgres::Config,
    tls_mode: TlsMode,
    root_cert: Option<PathBuf>,
    tls: Arc<std::sync::OnceLock<tokio_postgres_rustls::MakeRustlsConnect>>,
    aws: Arc<tokio::sync::OnceCell<aws_config::SdkConfig>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// What a URL's user, host and database names cannot hold as they are: all but RFC 3986's
/// unreserved characters.
const URL_RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Parameters tokio-postgres does not know, which this module handles itself.
const OWN_PARAMS: &[&str] = &["sslmode", "sslrootcert"];
/// libpq parameters that are not supported; named in the error.
const UNSUPPORTED_PARAMS: &[&str] = &["sslcert", "sslkey", "sslpassword", "sslcrl", "passfile"];

impl Endpoint {
    /// Parses a libpq connection string: `postgres://user:pass@host:port/db?sslmode=...` or
    /// `host=... user=... sslmode=...`.
    pub fn parse(conninfo: &str) -> Result<Endpoint> {
        let conninfo = conninfo.trim();
        if conninfo.is_empty() {
            return Err(Error::config("empty connection string"));
        }
        let (rest, own) =
            if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
                split_url(conninfo)?
            } else {
                split_keyword_value(conninfo)?
            };
        let mut tls_mode = TlsMode::Prefer;
        let mut root_cert = None;
        for (k, v) in own {
            match k.as_str() {
                "sslmode" => tls_mode = TlsMode::parse(&v)?,
                "sslrootcert" => root_cert = Some(PathBuf::from(v)),
                _ => unreachable!(),
            }
        }
        let mut pg = tokio_postgres::Config::from_str(&rest).map_err(|e| {
            Error::config(format!(
                "invalid connection string: {}",
                describe_config_error(&e)
            ))
        })?;
        if pg.get_hosts().is_empty() {
            return Err(Error::config("connection string names no host"));
        }
        if pg.get_hosts().iter().any(|h| match h {
            Host::Tcp(name) => name.is_empty(),
            Host::Unix(path) => path.as_os_str().is_empty(),
        }) {
            return Err(Error::config("connection string names an empty host"));
        }
        if pg.get_user().is_none() {
            return Err(Error::config("connection string names no user"));
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(10));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("migrator");
        }
        pg.keepalives(true);
        pg.keepalives_idle(Duration::from_secs(30));
        pg.ssl_mode(match tls_mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        if let Some(p) = &root_cert
            && p.as_os_str() != "system"
            && !p.exists()
        {
            return Err(Error::config(format!(
                "sslrootcert file {} does not exist",
                p.display()
            )));
        }
        Ok(Endpoint {
            pg,
            tls_mode,
            root_cert,
            tls: Arc::new(std::sync::OnceLock::new()),
            aws: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    /// The parsed parameters, for the fuzz targets' checks.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn pg_config(&self) -> &tokio_postgres::Config {
        &self.pg
    }

    /// The connection string with the password removed, for printing.
    pub fn redacted(&self) -> String {
        // Names are percent-encoded where a URL needs it, so the printed form is a URL that
        // means the same (a user named `a@b`, a socket directory `/tmp`).
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, URL_RESERVED).to_string();
        let raw_user = self.pg.get_user().unwrap_or("");
        let user = enc(raw_user);
        let hosts: Vec<String> = self
            .pg
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let host = match h {
                    // Only an IPv6 literal goes in brackets; any other name holding a ':'
                    // is encoded like the rest.
                    Host::Tcp(s) if s.parse::<std::net::Ipv6Addr>().is_ok() => format!("[{s}]"),
                    Host::Tcp(s) => enc(s),
                    Host::Unix(p) => enc(&p.display().to_string()),
                };
                match self.pg.get_ports().get(i).or(self.pg.get_ports().first()) {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            })
            .collect();
        let db = enc(self.pg.get_dbname().unwrap_or(raw_user));
        format!(
            "postgres://{user}@{}/{db}?sslmode={}",
            hosts.join(","),
            self.tls_mode.as_str()
        )
    }

    /// The first host name, if it is a TCP host.
    pub fn host(&self) -> Option<&str> {
        self.pg.get_hosts().iter().find_map(|h| match h {
            Host::Tcp(s) => Some(s.as_str()),
            Host::Unix(_) => None,
        })
    }

    /// The TLS mode.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls_mode
    }

    /// Whether the host is a connection pooler in transaction mode (Neon's `-pooler` hosts),
    /// which cannot share a snapshot between connections.
    pub fn is_pooler(&self) -> bool {
        self.host().is_some_and(|h| {
            h.split('.')
                .next()
                .is_some_and(|first| first.ends_with("-pooler"))
        })
    }

    /// Whether the host is an Aurora DSQL cluster endpoint (`*.dsql.<region>.on.aws`).
    pub fn is_dsql(&self) -> bool {
        self.host().is_some_and(|h| {
            let labels: Vec<&str> = h.trim_end_matches('.').split('.').collect();
            labels.len() >= 5
                && labels[labels.len() - 2..] == ["on", "aws"]
                && labels[labels.len() - 4] == "dsql"
        })
    }

    /// Opens a connection (with an IAM auth token as the password for an Aurora DSQL host
    /// given none). The whole handshake (TCP, TLS, startup, authentication) has the connect
    /// timeout per host: a server that accepts the connection and never answers fails like
    /// one that cannot be reached, instead of hanging the run.
    pub(crate) async fn connect(&self, side: Side) -> Result<Client> {
        let mut config = self.pg.clone();
        if self.is_dsql() && self.pg.get_password().is_none() {
            config.password(self.dsql_token().await?);
        }
        let per_host = self
            .pg
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(10));
        let deadline = per_host * self.pg.get_hosts().len().max(1) as u32;
        let handshake = async {
            match self.tls_mode {
                TlsMode::Disable => config.connect(NoTls).await.map(|(client, conn)| {
                    spawn_connection(conn, side);
                    client
                }),
                _ => {
                    let tls = self.tls_connector()?;
                    config.connect(tls).await.map(|(client, conn)| {
                        spawn_connection(conn, side);
                        client
                    })
                }
            }
            .map_err(|e| self.connect_error(side, e))
        };
        tokio::time::timeout(deadline, handshake)
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Connect,
                    format!(
                        "cannot connect to {} {}: the server did not answer within {} s",
                        side.name(),
                        self.redacted(),
                        deadline.as_secs()
                    ),
                )
                .retryable(true)
            })?
    }

    /// A fresh IAM auth token for this DSQL host (each new connection gets one).
    async fn dsql_token(&self) -> Result<String> {
        let host = self.host().unwrap_or_default().to_string();
        let region = dsql::region_of(&host)
            .ok_or_else(|| Error::config(format!("cannot tell the AWS region of host {host}")))?;
        let sdk = self
            .aws
            .get_or_init(|| async {
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(region.clone()))
                    .load()
                    .await
            })
            .await;
        dsql::auth_token(sdk, &host, &region, self.pg.get_user().unwrap_or("admin")).await
    }

    fn tls_connector(&self) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
        if let Some(c) = self.tls.get() {
            return Ok(c.clone());
        }
        let config = tls::client_config(self.tls_mode, self.root_cert.as_deref())?;
        let made = tokio_postgres_rustls::MakeRustlsConnect::new(config);
        let _ = self.tls.set(made.clone());
        Ok(made)
    }

    fn connect_error(&self, side: Side, e: tokio_postgres::Error) -> Error {
        let tls_failure = chain_mentions_tls(&e);
        let kind = if tls_failure {
            ErrorKind::Tls
        } else {
            ErrorKind::Connect
        };
        let retryable = e.as_db_error().is_none() && !tls_failure;
        let what = format!("cannot connect to {} {}", side.name(), self.redacted());
        let mut err = Error::db(kind, what, e).retryable(retryable);
        if err.sqlstate() == Some("28P01") || err.sqlstate() == Some("28000") {
            err = err.retryable(false);
        }
        // Too many connections, or new ones too fast (DSQL's 53300 and 53400): a later try
        // can succeed.
        if err.sqlstate().is_some_and(|s| s.starts_with("53")) {
            err = err.retryable(true);
        }
        err
    }
}

impl FromStr for Endpoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Endpoint> {
        Endpoint::parse(s)
    }
}

fn spawn_connection<S, T>(conn: tokio_postgres::Connection<S, T>, side: Side)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(
        async move {
            if let Err(e) = conn.await {
                tracing::debug!(side = side.name(), error = %e, "connection closed");
            }
        }
        .with_current_subscriber(),
    );
}

fn chain_mentions_tls(e: &tokio_postgres::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = src {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        let text = err.to_string();
        if text.contains("certificate") || text.contains("TLS") || text.contains("tls") {
            return true;
        }
        src = err.source();
    }
    false
}

fn describe_config_error(e: &tokio_postgres::Error) -> String {
    let mut s = e.to_string();
    if let Some(inner) = std::error::Error::source(e) {
        let inner = inner.to_string();
        if !s.contains(&inner) {
            s = format!("{s}: {inner}");
        }
    }
    // The caller says "invalid connection string" already.
    s.strip_prefix("invalid connection string: ")
        .map(str::to_string)
        .unwrap_or(s)
}

type OwnParams = Vec<(String, String)>;

/// Splits a URL's query into the parameters handled here and the rest.
fn split_url(url: &str) -> Result<(String, OwnParams)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut own = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(k)?;
        if UNSUPPORTED_PARAMS.contains(&key.as_str()) {
            return Err(Error::config(format!(
                "connection parameter '{key}' is not supported"
            )));
        }
        if OWN_PARAMS.contains(&key.as_str()) {
            own.push((key, decode(v)?));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, own))
}

fn decode(s: &str) -> Result<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| Error::config("connection string has invalid percent-encoding"))
}

/// Splits a `key=value ...` string into the parameters handled here and the rest.
fn split_keyword_value(s: &str) -> Result<(String, OwnParams)> {
    let mut rest = String::new();
    let mut own = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(Error::config(format!(
                "invalid connection string: expected '=' after '{key}'"
            )));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut raw = String::new();
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            raw.push(chars.next().unwrap());
            let mut closed = false;
            while let Some(c) = chars.next() {
                raw.push(c);
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            raw.push(n);
                            value.push(n);
                        }
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(Error::config(format!(
                    "invalid connection string: unterminated quoted value for '{key}'"
                )));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                raw.push(c);
                value.push(c);
                chars.next();
            }
        }
        if UNSUPPORTED_PARAMS.contains(&key.as_str()) {
            return Err(Error::config(format!(
                "connection parameter '{key}' is not supported"
            )));
        }
        if OWN_PARAMS.contains(&key.as_str()) {
            own.push((key, value));
        } else {
            if !rest.is_empty() {
                rest.push(' ');
            }
            rest.push_str(&key);
            rest.push('=');
            rest.push_str(&raw);
        }
    }
    Ok((rest, own))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_with_verify_full_and_rootcert() {
        let dir = tempfile_path();
        let e = Endpoint::parse(&format!(
            "postgres://app:s3cr%40t@db.example.com:6543/shop?sslmode=verify-full&sslrootcert={}&application_name=x",
            dir
        ))
        .unwrap();
        assert_eq!(e.tls_mode(), TlsMode::VerifyFull);
        assert_eq!(e.host(), Some("db.example.com"));
        let shown = e.redacted();
        assert_eq!(
            shown,
            "postgres://app@db.example.com:6543/shop?sslmode=verify-full"
        );
        assert!(!format!("{e:?}").contains("s3cr"));
    }

    #[test]
    fn keyword_value_form() {
        let e =
            Endpoint::parse("host=h port=5433 user=u password='p w\\'x' dbname=d sslmode=require")
                .unwrap();
        assert_eq!(e.tls_mode(), TlsMode::Require);
        assert_eq!(e.redacted(), "postgres://u@h:5433/d?sslmode=require");
        assert_eq!(e.pg.get_password(), Some(&b"p w'x"[..]));
    }

    #[test]
    fn the_printed_form_is_a_url_that_means_the_same() {
        // Found by the connection_string fuzz target: names a URL must encode were printed
        // as they are.
        for url in [
            "postgres://a%40b:pw@h/d%2Fb",
            "host=/tmp user=u dbname=x",
            "postgres://u@[::1]:6000/db",
            "postgres://u@/db?host=(~'*x:/ss",
        ] {
            let ep = Endpoint::parse(url).unwrap();
            let again = Endpoint::parse(&ep.redacted()).unwrap();
            assert_eq!(again.pg.get_user(), ep.pg.get_user(), "{url}");
            assert_eq!(again.pg.get_dbname(), ep.pg.get_dbname(), "{url}");
            assert_eq!(again.pg.get_hosts(), ep.pg.get_hosts(), "{url}");
            assert!(!ep.redacted().contains("pw"));
        }
    }

    #[test]
    fn an_empty_host_is_refused() {
        // Found by the connection_string fuzz target: `?host=` was accepted and printed as a
        // URL with no host.
        for url in [
            "postgres://u@?host=",
            "postgres://u@h/db?host=",
            "host='' user=u",
        ] {
            let e = Endpoint::parse(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{url}");
            assert!(e.to_string().contains("host"), "{url}: {e}");
        }
    }

    #[test]
    fn an_error_quoting_the_input_stays_one_line() {
        // Found by the connection_string fuzz target: an option named by a newline.
        let e = Endpoint::parse("postgres://;?\n\0=*")
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e:?}");
        assert_eq!(e.matches("invalid connection string").count(), 1, "{e}");
        let e = Endpoint::parse("postgres://u@h/db?sslmode=re%0Aquire")
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n') && e.contains("sslmode"), "{e:?}");
    }

    #[test]
    fn bad_sslmode_is_named() {
        let e = Endpoint::parse("postgres://u@h/d?sslmode=verify").unwrap_err();
        assert!(e.to_string().contains("sslmode 'verify'"), "{e}");
        assert_eq!(e.kind(), ErrorKind::Config);
    }

    #[test]
    fn malformed_url_does_not_echo_password() {
        let e = Endpoint::parse("postgres://u:topsecret@h:notaport/d").unwrap_err();
        assert!(!e.to_string().contains("topsecret"), "{e}");
    }

    #[test]
    fn pooler_and_dsql_hosts() {
        let p =
            Endpoint::parse("postgres://u@ep-cool-123-pooler.us-east-2.aws.neon.tech/db").unwrap();
        assert!(p.is_pooler());
        let d = Endpoint::parse(
            "postgres://admin@abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws/postgres",
        )
        .unwrap();
        assert!(d.is_dsql() && !d.is_pooler());
        let n = Endpoint::parse("postgres://u@ep-cool-123.us-east-2.aws.neon.tech/db").unwrap();
        assert!(!n.is_pooler() && !n.is_dsql());
    }

    fn tempfile_path() -> String {
        let p = std::env::temp_dir().join("migrator-conn-test-root.pem");
        std::fs::write(&p, "").unwrap();
        p.display().to_string()
    }
}
