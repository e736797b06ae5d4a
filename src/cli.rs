//! The command line: clap definitions only. Commands receive plain settings built from these
//! structs, never the structs themselves, so they can be called from tests and other code.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes, shown in `--help` and the README; `exit::Category` is their source.
pub const EXIT_CODES: &str = "\
Exit codes (the same for every command; with several REFs the first failure's code wins):
  0  ok
  1  other failure
  2  usage: bad arguments, reference or digest
  3  not found (404, BLOB_UNKNOWN, NAME_UNKNOWN, MANIFEST_UNKNOWN)
  4  authentication or authorization refused (401/403, UNAUTHORIZED, DENIED)
  5  integrity: digest or size mismatch (nothing is saved)
  6  network or server failure (connection errors, 5xx)
  7  rate limited (429, TOOMANYREQUESTS)
  8  local storage (disk full, permissions)
  130 interrupted (Ctrl-C); partial downloads are kept and resumed next time";

/// Examples in `fetch --help`.
const FETCH_EXAMPLES: &str = "\
Examples:
  layerget fetch 127.0.0.1:5000/team/app@sha256:4f1a…        print the blob's cache path
  layerget fetch REF1 REF2 -j 8 --json                        several blobs, JSON lines
  layerget fetch REF -o layer.tar.gz                          also a verified copy
  layerget fetch REF -o - | tar -tz                           the verified bytes on stdout
  layerget fetch REF --mirror http://10.0.0.5:5000/hub        a mirror first, then the registry";

/// Examples in `head --help`.
const HEAD_EXAMPLES: &str = "\
Examples:
  layerget head ghcr.io/org/app@sha256:4f1a…                  size, digest, type, final host
  layerget head REF --json";

/// Examples in `serve --help`.
const SERVE_EXAMPLES: &str = "\
Examples:
  layerget serve                                   the default cache on 127.0.0.1:5000
  layerget serve /srv/mirror --listen 0.0.0.0:5000 --htpasswd users --tls-cert c.pem --tls-key k.pem
  skopeo copy --src-tls-verify=false docker://127.0.0.1:5000/library/alpine:3.20 dir:alpine
  layerget serve --allow-push --allow-delete       a registry that takes pushes (loopback only)
  skopeo copy --dest-tls-verify=false dir:alpine docker://127.0.0.1:5000/team/alpine:v1
  layerget serve --upstream https://registry-1.docker.io      a pull-through mirror of Docker Hub
  layerget serve --upstream docker.io=https://registry-1.docker.io --upstream ghcr.io=https://ghcr.io";

/// Examples in `pull --help`.
const PULL_EXAMPLES: &str = "\
Examples:
  layerget pull 127.0.0.1:5000/team/app:v1                    manifest, config and layers
  layerget pull alpine:3.20 --platform linux/arm64            one platform of an index
  layerget pull REF --platform linux/amd64,linux/arm64         two platforms, an index of them
  layerget pull REF --all-platforms                           every platform and the index
  layerget pull alpine:3.20 --mirror https://mirror.internal  layers from a mirror first
  echo \"$TOKEN\" | layerget pull ghcr.io/corp/app:1 --username me --password-stdin";

const PUSH_EXAMPLES: &str = "\
Examples:
  layerget push 127.0.0.1:5000/team/app:v1 registry.internal/team/app   same tag, another registry
  layerget push 127.0.0.1:5000/team/app:v1 registry.internal/app:stable  another tag
  layerget push --blob sha256:… registry.internal/team/app              one cached blob";

const COPY_EXAMPLES: &str = "\
Examples:
  layerget copy 127.0.0.1:5000/team/app:v1 registry.internal/team/app:v1
  layerget copy alpine:3.20 registry.internal/mirror/alpine --all-platforms";

const SYNC_EXAMPLES: &str = "\
Examples:
  layerget sync registry.internal/mirror          127.0.0.1:5000/team/app:v1 -> registry.internal/mirror/team/app:v1
  layerget sync registry.internal --match '*/team/*'";

/// Fetch container registry blobs into a verified, crash-safe OCI-layout cache.
#[derive(Debug, Parser)]
#[command(name = "layerget", version, after_help = EXIT_CODES, max_term_width = 100)]
pub struct Cli {
    /// Options every command accepts, before or after the subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Registry options given before the subcommand (`layerget --username u pull …`); those
    /// after it win. Only fetch, head and pull have them, so only their help lists them.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Transfer options given before the subcommand.
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Options common to all commands; they work before or after the subcommand.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Cache and output")]
pub struct GlobalArgs {
    /// Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from
    /// the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir,
    /// e.g. ~/.cache/layerget]
    // The variable is read by `commands`, not by clap: clap counts an argument set by its
    // variable as given and shows it in the usage line of every error.
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env:
    /// LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]
    #[arg(long, global = true, value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want,
    /// rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]
    #[arg(long, global = true)]
    pub s3_path_style: bool,

    /// Print results as JSON on stdout, one object per line
    #[arg(long, global = true)]
    pub json: bool,

    /// No progress and no informational messages on stderr (errors are still shown)
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// More log output on stderr (-v, -vv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never
    #[arg(long, global = true, value_enum, default_value_t = ColorMode::Auto, value_name = "WHEN")]
    pub color: ColorMode,

    /// Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none
    #[arg(long, global = true, value_enum, default_value_t = ProgressMode::Auto, value_name = "MODE")]
    pub progress: ProgressMode,
}

/// How to reach and log in to registries (the commands that talk to one: fetch, head, pull).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Registry")]
pub struct RegistryArgs {
    /// Talk plain HTTP to every registry (loopback registries use HTTP already)
    #[arg(long)]
    pub plain_http: bool,

    /// User name for registry logins (the password comes from --password-stdin or
    /// LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one
    /// registry only: --registry-auth, else the first REF's
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,

    /// The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for
    /// [env: LAYERGET_REGISTRY_AUTH] [default: the first REF's registry]
    // Read from the environment by `commands` (see --cache-dir).
    #[arg(long, value_name = "HOST")]
    pub registry_auth: Option<String>,

    /// Read the password (or token) for --username from stdin
    #[arg(long, requires = "username")]
    pub password_stdin: bool,

    /// Trust the CA certificates in this PEM file (implies https, loopback included)
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Accept any TLS certificate, unverified (implies https, loopback included)
    #[arg(long)]
    pub insecure: bool,
}

impl RegistryArgs {
    /// These options, with `before`'s (given before the subcommand) where these are unset.
    pub fn or(self, before: RegistryArgs) -> RegistryArgs {
        RegistryArgs {
            plain_http: self.plain_http || before.plain_http,
            username: self.username.or(before.username),
            registry_auth: self.registry_auth.or(before.registry_auth),
            password_stdin: self.password_stdin || before.password_stdin,
            ca_file: self.ca_file.or(before.ca_file),
            insecure: self.insecure || before.insecure,
        }
    }
}

/// Mirrors to try before the registry (the commands that read content: fetch, head, pull, and
/// copy's source).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Mirrors")]
pub struct MirrorArgs {
    /// Mirrors to try before the registry.
    #[arg(
        long = "mirror",
        value_name = "URL",
        help = "Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry's [default: the registry's `mirrors` in config.toml]"
    )]
    pub mirrors: Vec<crate::config::Mirror>,

    /// Never fall back to the registry for blobs and manifests by digest (tags are still
    /// resolved there unless --mirror-tags)
    #[arg(long)]
    pub mirror_only: bool,

    /// Resolve tags at the mirrors too, before the registry (a mirror's tag may be stale)
    #[arg(long)]
    pub mirror_tags: bool,
}

/// How transfers give up and try again. No clap defaults: a value given before the subcommand
/// must be told apart from none (see [`TransferArgs::or`]); the defaults are below.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Transfer")]
pub struct TransferArgs {
    /// Give up on a connection that sends nothing for this many seconds [default: 30]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout: Option<u64>,

    /// Retries after a failed attempt (connection errors, 5xx, 429); each one resumes
    /// [default: 5]
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,

    /// Longest wait a registry's Retry-After may impose, in seconds [default: 120]
    #[arg(long, value_name = "SECS")]
    pub max_wait: Option<u64>,
}

impl TransferArgs {
    /// These options, with `before`'s where these are unset.
    pub fn or(self, before: TransferArgs) -> TransferArgs {
        TransferArgs {
            stall_timeout: self.stall_timeout.or(before.stall_timeout),
            retries: self.retries.or(before.retries),
            max_wait: self.max_wait.or(before.max_wait),
        }
    }

    /// `--stall-timeout`, or its default.
    pub fn stall_timeout(&self) -> u64 {
        self.stall_timeout.unwrap_or(30)
    }

    /// `--retries`, or its default.
    pub fn retries(&self) -> u32 {
        self.retries.unwrap_or(5)
    }

    /// `--max-wait`, or its default.
    pub fn max_wait(&self) -> u64 {
        self.max_wait.unwrap_or(120)
    }
}

/// When log output is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorMode {
    /// When stderr is a terminal and `NO_COLOR` is unset
    Auto,
    /// Always (e.g. for a pager that understands ANSI)
    Always,
    /// Never
    Never,
}

impl ColorMode {
    /// Whether to colour a stream, given whether it is a terminal and whether `NO_COLOR` is set
    /// (<https://no-color.org>: any value but the empty string).
    pub fn enabled(self, terminal: bool, no_color: bool) -> bool {
        match self {
            ColorMode::Always => true,
            ColorMode::Never => false,
            ColorMode::Auto => terminal && !no_color,
        }
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, nothing otherwise
    Auto,
    /// Always bars (drawn only on a terminal)
    Bar,
    /// A line every few seconds per active blob
    Plain,
    /// One JSON event per line on stderr (start, progress, retry, done, error, message)
    Json,
    /// Nothing
    None,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download blobs by digest into the cache, verified, and print their cache paths
    #[command(after_help = FETCH_EXAMPLES)]
    Fetch(FetchArgs),
    /// Ask a registry about a blob without downloading it
    #[command(after_help = HEAD_EXAMPLES)]
    Head(HeadArgs),
    /// Serve the cache as a registry (OCI Distribution API: pulls; pushes with --allow-push)
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Pull whole images (manifests, configs, layers) into the cache and record their references
    #[command(after_help = PULL_EXAMPLES)]
    Pull(PullArgs),
    /// Push an image recorded in the cache (or one cached blob) to a registry
    #[command(after_help = PUSH_EXAMPLES)]
    Push(PushArgs),
    /// Copy an image from one registry to another, through the cache
    #[command(after_help = COPY_EXAMPLES)]
    Copy(CopyArgs),
    /// Push every reference recorded in the cache under one destination prefix
    #[command(after_help = SYNC_EXAMPLES)]
    Sync(SyncArgs),
    /// Inspect and look after the cache: ls, du, verify, gc, prune, rm, path
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Print shell completions for SHELL on stdout (e.g. `layerget completions bash > ~/.local/share/bash-completion/completions/layerget`)
    Completions(CompletionsArgs),
    /// Write completions/ (every supported shell) and man/ (man pages) into DIR
    #[command(hide = true)]
    Generate(GenerateArgs),
}

impl Command {
    /// The REFs a command names, as given (none for commands that name no registry).
    pub fn refs(&self) -> &[String] {
        match self {
            Command::Fetch(a) => &a.refs,
            Command::Pull(a) => &a.refs,
            Command::Head(a) => std::slice::from_ref(&a.reference),
            // The destination: explicit credentials are for the registry pushed to.
            Command::Push(a) => std::slice::from_ref(&a.dest),
            Command::Copy(a) => std::slice::from_ref(&a.dest),
            Command::Sync(a) => std::slice::from_ref(&a.dest_ref),
            _ => &[],
        }
    }

    /// The mirror options of a command that reads content, and the REFs it reads (copy's
    /// source; `refs` gives its destination).
    pub fn mirrored(&self) -> Option<(&MirrorArgs, &[String])> {
        match self {
            Command::Fetch(a) => Some((&a.mirror, &a.refs)),
            Command::Head(a) => Some((&a.mirror, std::slice::from_ref(&a.reference))),
            Command::Pull(a) => Some((&a.mirror, &a.refs)),
            Command::Copy(a) => Some((&a.mirror, std::slice::from_ref(&a.source))),
            _ => None,
        }
    }

    /// The registry and transfer options of a command that talks to registries.
    pub fn network(&self) -> Option<(&RegistryArgs, &TransferArgs)> {
        match self {
            Command::Fetch(a) => Some((&a.registry, &a.transfer)),
            Command::Head(a) => Some((&a.registry, &a.transfer)),
            Command::Pull(a) => Some((&a.registry, &a.transfer)),
            Command::Push(a) => Some((&a.registry, &a.transfer)),
            Command::Copy(a) => Some((&a.registry, &a.transfer)),
            Command::Sync(a) => Some((&a.registry, &a.transfer)),
            Command::Serve(a) => Some((&a.registry, &a.transfer)),
            _ => None,
        }
    }
}

/// `layerget fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Blobs to fetch.
    #[arg(
        required = true,
        value_name = "REF",
        help = "Blobs to fetch: [REGISTRY[:PORT]/]NAME@DIGEST, e.g. 127.0.0.1:5000/team/app@sha256:…"
    )]
    pub refs: Vec<String>,

    /// Also write a verified copy to PATH (a directory with several REFs; `-` for stdout)
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Fetch up to N blobs at once
    #[arg(short, long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// Re-hash cached blobs before trusting them (a bad one is fetched again)
    #[arg(long)]
    pub verify_cached: bool,

    /// Parallel Range requests for one big blob (1 = a single stream) [default: 4, or 1 for
    /// loopback registries, where segments only add work]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=32))]
    pub segments: Option<u32>,

    /// Smallest blob fetched in segments: bytes, or with a K, M, G or T suffix (powers of 1024)
    #[arg(long, default_value = "64M", value_name = "SIZE", value_parser = parse_size)]
    pub segment_min: u64,

    /// Refuse a blob larger than SIZE (a body that does not say its length is cut off there):
    /// bytes, or with a K, M, G or T suffix (powers of 1024)
    #[arg(long, default_value = "10G", value_name = "SIZE", value_parser = parse_size)]
    pub max_size: u64,

    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// When to give up and try again.
    #[command(flatten)]
    pub transfer: TransferArgs,

    /// Where else the content may come from.
    #[command(flatten)]
    pub mirror: MirrorArgs,
}

/// Parses `1048576`, `512K`, `64M`, `2G`, `1T` (powers of 1024; `KiB`/`MB`-style suffixes and
/// lower case accepted too).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 1048576, 512K, 64M, 2G)"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("`{s}` has an unknown unit (use K, M, G or T)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// Parses a `--listen` address: `IP:PORT`, `[IPv6]:PORT`, `localhost:PORT` (127.0.0.1: no
/// lookup, RFC 6761 reserves the name for loopback) and `:PORT`, which the reference registry
/// (Go's `net.Listen`) reads as every interface, so it is `0.0.0.0:PORT` here.
pub fn parse_listen(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::{Ipv4Addr, SocketAddr};
    let t = s.trim();
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("`{s}` has no valid port (e.g. 127.0.0.1:5000, :5000)"))
    };
    if let Some(p) = t.strip_prefix(':') {
        return Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port(p)?)));
    }
    if let Some((host, p)) = t.rsplit_once(':')
        && host.eq_ignore_ascii_case("localhost")
    {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port(p)?)));
    }
    t.parse().map_err(|_| {
        format!(
            "`{s}` is not an address to listen on\nhint: use IP:PORT, [IPv6]:PORT, localhost:PORT or :PORT (all interfaces), e.g. 127.0.0.1:5000"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let ok =
            |s: &str, want: &str| assert_eq!(parse_listen(s).unwrap().to_string(), want, "{s}");
        ok("127.0.0.1:5000", "127.0.0.1:5000");
        ok("[::1]:5000", "[::1]:5000");
        ok(":5000", "0.0.0.0:5000");
        ok("localhost:5000", "127.0.0.1:5000");
        ok("LocalHost:0", "127.0.0.1:0");
        for bad in [
            "",
            "5000",
            ":",
            ":x",
            ":70000",
            "localhost",
            "localhost:",
            "example.com:5000",
            "1.2.3.4",
        ] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert!(parse_size("").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("1.5G").is_err());
        assert!(parse_size("10X").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}

/// `layerget head`.
#[derive(Debug, Args)]
pub struct HeadArgs {
    /// The blob.
    #[arg(value_name = "REF", help = "The blob: [REGISTRY[:PORT]/]NAME@DIGEST")]
    pub reference: String,

    /// Also ask for the blob's first byte (a 1-byte ranged GET) and say whether the registry
    /// honours Range, which resumed and segmented downloads need
    #[arg(long)]
    pub check_range: bool,

    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// When to give up and try again.
    #[command(flatten)]
    pub transfer: TransferArgs,

    /// Where else the content may come from.
    #[command(flatten)]
    pub mirror: MirrorArgs,
}

/// `layerget serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Cache directory to serve [default: --cache-dir, LAYERGET_CACHE_DIR or the user cache dir]
    #[arg(value_name = "CACHE_DIR")]
    pub dir: Option<PathBuf>,

    /// Address to listen on: IP:PORT, `[IPv6]:PORT`, localhost:PORT (127.0.0.1), or :PORT for all
    /// interfaces as the reference registry reads it (port 0 picks a free port); non-loopback
    /// addresses get a warning
    #[arg(long, default_value = "127.0.0.1:5000", value_name = "ADDR", value_parser = parse_listen)]
    pub listen: std::net::SocketAddr,

    /// Most connections served at once; more wait to be accepted
    #[arg(long, default_value_t = 512, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Answer blob GETs of an s3:// cache with 307 to a presigned URL of the object (valid for
    /// 15 minutes), so clients download straight from the object store
    #[arg(long)]
    pub redirect: bool,

    /// Close a connection whose request head has not arrived after SECS (also ends idle keep-alive)
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,

    /// Close a connection that moves no byte for SECS
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub idle_timeout: u64,

    /// Most connections one client address (an IPv6 /64) may hold; more get 503 with Retry-After
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_ip: u32,

    /// Drop a client that reads a response slower than SIZE bytes/s for --send-rate-window
    /// (K, M, G suffixes; 0 turns the rule off)
    #[arg(long, default_value = "16K", value_name = "SIZE", value_parser = parse_size)]
    pub min_send_rate: u64,

    /// How long a client may read slower than --min-send-rate before it is dropped
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub send_rate_window: u64,

    /// With --htpasswd: most requests waiting for or running a password check at once; more get
    /// 429 with Retry-After (successful logins are remembered and skip the check)
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub auth_queue: u32,

    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key
    #[arg(long, value_name = "PEM", requires = "tls_key", value_hint = clap::ValueHint::FilePath)]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "PEM", requires = "tls_cert", value_hint = clap::ValueHint::FilePath)]
    pub tls_key: Option<PathBuf>,

    /// Require HTTP Basic authentication against FILE (bcrypt entries, as `htpasswd -B` writes)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub htpasswd: Option<PathBuf>,

    /// Accept pushes: blob uploads and manifest PUTs (without it every write gets 405). Without
    /// --htpasswd, a non-loopback --listen also needs --insecure-allow-anonymous-push
    #[arg(long)]
    pub allow_push: bool,

    /// Accept DELETE of tags, manifests and blobs (never of content another tag still uses)
    #[arg(long)]
    pub allow_delete: bool,

    /// With --htpasswd: let reads (GET, HEAD) through without credentials; writes still need them
    #[arg(long, requires = "htpasswd")]
    pub anonymous_pull: bool,

    /// Let --allow-push without --htpasswd listen on a non-loopback address: anyone who can reach
    /// it may then write to the cache
    #[arg(long, requires = "allow_push")]
    pub insecure_allow_anonymous_push: bool,

    /// Abort an upload session that received nothing for this long: seconds, or with an s, m, h
    /// or d suffix
    #[arg(long, default_value = "1h", value_name = "AGE", value_parser = parse_age)]
    pub upload_ttl: std::time::Duration,

    /// Most upload sessions open at once; more get 429
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_upload_sessions: u32,

    /// Refuse a pushed blob larger than SIZE with 413: bytes, or with a K, M, G or T suffix
    /// (powers of 1024)
    #[arg(long, default_value = "10G", value_name = "SIZE", value_parser = parse_size)]
    pub max_blob_size: u64,

    /// Pull-through: fetch what the cache lacks from this registry, URL `http(s)://HOST[:PORT]`,
    /// or `REGISTRY=URL` to name the registry it stands for (what containerd's ?ns= names and
    /// tags are recorded under). Repeatable; the first serves requests that name no registry.
    /// Blobs and manifests by digest are cached for good, tags for --tag-ttl
    #[arg(long, value_name = "[REGISTRY=]URL", value_parser = parse_upstream)]
    pub upstream: Vec<crate::server::Upstream>,

    /// With --upstream: trust a cached tag this long, then check it with a HEAD upstream:
    /// seconds, or with an s, m, h or d suffix
    #[arg(long, default_value = "5m", value_name = "AGE", value_parser = parse_age)]
    pub tag_ttl: std::time::Duration,

    /// With --upstream: keep the cache's blobs under SIZE (K, M, G, T suffixes), evicting the
    /// least recently served first as `cache prune` does (checked every few seconds; blobs
    /// being fetched are kept)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "upstream")]
    pub max_size: Option<u64>,

    /// How to reach the --upstream registries.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// When to give up on an --upstream request and try again.
    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// `--upstream [REGISTRY=]URL`.
fn parse_upstream(s: &str) -> Result<crate::server::Upstream, String> {
    crate::server::Upstream::parse(s)
}

/// `layerget generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory to write completions/ and man/ into (the repository root to refresh the
    /// committed files)
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// `layerget completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `layerget pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Images to pull.
    #[arg(
        required = true,
        value_name = "REF",
        help = "Images to pull: [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST] (the tag defaults to latest)"
    )]
    pub refs: Vec<String>,

    /// From a multi-platform image, take these platforms: OS/ARCH[/VARIANT], several separated
    /// by commas or given again (several record an index of just those) [default: this host's]
    #[arg(
        long,
        value_name = "PLATFORM",
        value_delimiter = ',',
        conflicts_with = "all_platforms"
    )]
    pub platform: Vec<String>,

    /// From a multi-platform image, take every platform (and record the index itself)
    #[arg(long)]
    pub all_platforms: bool,

    /// Fetch up to N blobs at once (over all images)
    #[arg(short, long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// Re-hash cached blobs before trusting them (a bad one is fetched again)
    #[arg(long)]
    pub verify_cached: bool,

    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// When to give up and try again.
    #[command(flatten)]
    pub transfer: TransferArgs,

    /// Where else the content may come from.
    #[command(flatten)]
    pub mirror: MirrorArgs,
}

/// `layerget push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// What to push.
    #[arg(
        value_name = "NAME",
        help = "What to push: a reference as `cache ls` shows it (REGISTRY/NAME[:TAG|@DIGEST]) or a manifest digest; with --blob, a blob digest"
    )]
    pub source: String,

    /// Where to push it.
    #[arg(
        value_name = "DEST",
        help = "Where: [REGISTRY[:PORT]/]NAME[:TAG|@DIGEST] (without a tag, NAME's tag); with --blob, a repository"
    )]
    pub dest: String,

    /// Push the one cached blob NAME names (a digest) into the repository DEST
    #[arg(long)]
    pub blob: bool,

    /// Blobs of at least this size are sent in chunks of it (PATCH), smaller ones in one PUT;
    /// a number of bytes, or with a K, M or G (KiB, MiB, GiB) suffix
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_chunk_size)]
    pub chunk_size: u64,

    /// Send up to N blobs at once
    #[arg(short, long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// Re-hash cached blobs before sending anything (a bad one stops the push, exit 5)
    #[arg(long)]
    pub verify_cached: bool,

    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// When to give up and try again.
    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// `layerget copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The image to copy.
    #[arg(
        value_name = "SRC",
        help = "The image to copy: [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST] (the tag defaults to latest)"
    )]
    pub source: String,

    /// Where to copy it.
    #[arg(
        value_name = "DEST",
        help = "Where: [REGISTRY[:PORT]/]NAME[:TAG|@DIGEST] (without a tag, SRC's tag)"
    )]
    pub dest: String,

    /// From a multi-platform image, copy every platform and the index itself [default: this
    /// host's platform only]
    #[arg(long)]
    pub all_platforms: bool,

    /// Blobs of at least this size are sent in chunks of it (see `push --chunk-size`)
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_chunk_size)]
    pub chunk_size: u64,

    /// Move up to N blobs at once
    #[arg(short, long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// How to reach the registries.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// When to give up and try again.
    #[command(flatten)]
    pub transfer: TransferArgs,

    /// Where else SRC's content may come from (the destination is never read from mirrors).
    #[command(flatten)]
    pub mirror: MirrorArgs,
}

/// `layerget sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Where every recorded reference goes.
    #[arg(
        value_name = "DEST_PREFIX",
        help = "HOST[:PORT][/PATH] every recorded reference is pushed under (its repository path and tag kept)"
    )]
    pub dest_prefix: String,

    /// Only the references whose full name matches GLOB (`*` any characters, `?` one)
    #[arg(long = "match", value_name = "GLOB")]
    pub pattern: Option<String>,

    /// A reference in DEST_PREFIX's registry (`DEST_PREFIX/sync`), set by `commands::run`, so
    /// that explicit credentials are for that registry even when the prefix is a bare host.
    #[arg(skip)]
    pub dest_ref: String,

    /// Blobs of at least this size are sent in chunks of it (see `push --chunk-size`)
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_chunk_size)]
    pub chunk_size: u64,

    /// Send up to N blobs at once
    #[arg(short, long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// Re-hash cached blobs before sending anything
    #[arg(long)]
    pub verify_cached: bool,

    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// When to give up and try again.
    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// Parses `--chunk-size` as [`parse_size`] does, refusing 0.
pub fn parse_chunk_size(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err("the chunk size must be at least 1 byte".into()),
        n => Ok(n),
    }
}

/// `layerget cache …`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List the references in the cache (index.json), or with --blobs every blob
    Ls(CacheLsArgs),
    /// Show the cache's size: blobs, partial downloads, quarantine
    Du,
    /// Re-hash blobs (all by default); bad ones are moved to quarantine/ (exit 5)
    Verify(CacheVerifyArgs),
    /// Remove blobs no reference needs, stale partial downloads and the quarantine
    Gc(CacheGcArgs),
    /// Evict least-recently-used images and blobs until the cache fits in SIZE
    Prune(CachePruneArgs),
    /// Remove a reference (and the blobs only it used) or a blob
    Rm(CacheRmArgs),
    /// Print the path of a cached blob
    Path(CachePathArgs),
}

/// `layerget cache ls`.
#[derive(Debug, Args)]
pub struct CacheLsArgs {
    /// List every blob with its size and last use instead of the references
    #[arg(long)]
    pub blobs: bool,

    /// With --blobs: sizes in bytes rather than KiB, MiB, GiB
    #[arg(long, requires = "blobs")]
    pub bytes: bool,
}

/// `layerget cache verify`.
#[derive(Debug, Args)]
pub struct CacheVerifyArgs {
    /// Blobs to check, as DIGEST or NAME@DIGEST [default: every blob]
    #[arg(value_name = "DIGEST")]
    pub digests: Vec<String>,

    /// Hash up to N blobs at once [default: the number of CPUs]
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
}

/// `layerget cache gc`.
#[derive(Debug, Args)]
pub struct CacheGcArgs {
    /// Show what would be removed; remove nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Also remove blobs that no manifest in the cache names (fetched by digest alone)
    #[arg(long)]
    pub loose: bool,

    /// Remove partial downloads untouched for this long: seconds, or with s, m, h or d. On an
    /// s3:// cache also the grace period of unreachable blobs: only older objects are removed
    #[arg(long, default_value = "7d", value_name = "AGE", value_parser = parse_age)]
    pub ingest_age: std::time::Duration,
}

/// `layerget cache prune`.
#[derive(Debug, Args)]
pub struct CachePruneArgs {
    /// Largest size of blobs/ to keep: bytes, or with a K, M, G or T suffix (powers of 1024)
    #[arg(long, required = true, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: u64,

    /// Show what would be evicted; remove nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `layerget cache rm`.
#[derive(Debug, Args)]
pub struct CacheRmArgs {
    /// References (as pulled, e.g. 127.0.0.1:5000/app:v1) or blob digests
    #[arg(required = true, value_name = "REF|DIGEST")]
    pub targets: Vec<String>,
}

/// `layerget cache path`.
#[derive(Debug, Args)]
pub struct CachePathArgs {
    /// The blob's digest (or NAME@DIGEST)
    #[arg(value_name = "DIGEST")]
    pub digest: String,
}

/// Parses `3600`, `90s`, `30m`, `12h`, `7d` into a duration.
pub fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not an age (e.g. 3600, 90s, 30m, 12h, 7d)"))?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("`{s}` has an unknown unit (use s, m, h or d)")),
    };
    n.checked_mul(secs)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod cache_arg_tests {
    use super::*;

    #[test]
    fn ages() {
        use std::time::Duration;
        assert_eq!(parse_age("0"), Ok(Duration::ZERO));
        assert_eq!(parse_age("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_age("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_age("12h"), Ok(Duration::from_secs(43200)));
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(604800)));
        for bad in ["", "d", "1.5d", "7w", "-1", "99999999999999999999d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
