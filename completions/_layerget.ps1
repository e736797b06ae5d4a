
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'layerget' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'layerget'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'layerget' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s')
            [CompletionResult]::new('--registry-auth', '--registry-auth', [CompletionResultType]::ParameterName, 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Trust the CA certificates in this PEM file (implies https, loopback included)')
            [CompletionResult]::new('--stall-timeout', '--stall-timeout', [CompletionResultType]::ParameterName, 'Give up on a connection that sends nothing for this many seconds [default: 30]')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]')
            [CompletionResult]::new('--max-wait', '--max-wait', [CompletionResultType]::ParameterName, 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--plain-http', '--plain-http', [CompletionResultType]::ParameterName, 'Talk plain HTTP to every registry (loopback registries use HTTP already)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password (or token) for --username from stdin')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Accept any TLS certificate, unverified (implies https, loopback included)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('fetch', 'fetch', [CompletionResultType]::ParameterValue, 'Download blobs by digest into the cache, verified, and print their cache paths')
            [CompletionResult]::new('head', 'head', [CompletionResultType]::ParameterValue, 'Ask a registry about a blob without downloading it')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve the cache as a registry (OCI Distribution API: pulls; pushes with --allow-push)')
            [CompletionResult]::new('pull', 'pull', [CompletionResultType]::ParameterValue, 'Pull whole images (manifests, configs, layers) into the cache and record their references')
            [CompletionResult]::new('push', 'push', [CompletionResultType]::ParameterValue, 'Push an image recorded in the cache (or one cached blob) to a registry')
            [CompletionResult]::new('copy', 'copy', [CompletionResultType]::ParameterValue, 'Copy an image from one registry to another, through the cache')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Push every reference recorded in the cache under one destination prefix')
            [CompletionResult]::new('cache', 'cache', [CompletionResultType]::ParameterValue, 'Inspect and look after the cache: ls, du, verify, gc, prune, rm, path')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions for SHELL on stdout (e.g. `layerget completions bash > ~/.local/share/bash-completion/completions/layerget`)')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write completions/ (every supported shell) and man/ (man pages) into DIR')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'layerget;fetch' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Also write a verified copy to PATH (a directory with several REFs; `-` for stdout)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Also write a verified copy to PATH (a directory with several REFs; `-` for stdout)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Fetch up to N blobs at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Fetch up to N blobs at once')
            [CompletionResult]::new('--segments', '--segments', [CompletionResultType]::ParameterName, 'Parallel Range requests for one big blob (1 = a single stream) [default: 4, or 1 for loopback registries, where segments only add work]')
            [CompletionResult]::new('--segment-min', '--segment-min', [CompletionResultType]::ParameterName, 'Smallest blob fetched in segments: bytes, or with a K, M, G or T suffix (powers of 1024)')
            [CompletionResult]::new('--max-size', '--max-size', [CompletionResultType]::ParameterName, 'Refuse a blob larger than SIZE (a body that does not say its length is cut off there): bytes, or with a K, M, G or T suffix (powers of 1024)')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s')
            [CompletionResult]::new('--registry-auth', '--registry-auth', [CompletionResultType]::ParameterName, 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Trust the CA certificates in this PEM file (implies https, loopback included)')
            [CompletionResult]::new('--stall-timeout', '--stall-timeout', [CompletionResultType]::ParameterName, 'Give up on a connection that sends nothing for this many seconds [default: 30]')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]')
            [CompletionResult]::new('--max-wait', '--max-wait', [CompletionResultType]::ParameterName, 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]')
            [CompletionResult]::new('--mirror', '--mirror', [CompletionResultType]::ParameterName, 'Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry''s [default: the registry''s `mirrors` in config.toml]')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--verify-cached', '--verify-cached', [CompletionResultType]::ParameterName, 'Re-hash cached blobs before trusting them (a bad one is fetched again)')
            [CompletionResult]::new('--plain-http', '--plain-http', [CompletionResultType]::ParameterName, 'Talk plain HTTP to every registry (loopback registries use HTTP already)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password (or token) for --username from stdin')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Accept any TLS certificate, unverified (implies https, loopback included)')
            [CompletionResult]::new('--mirror-only', '--mirror-only', [CompletionResultType]::ParameterName, 'Never fall back to the registry for blobs and manifests by digest (tags are still resolved there unless --mirror-tags)')
            [CompletionResult]::new('--mirror-tags', '--mirror-tags', [CompletionResultType]::ParameterName, 'Resolve tags at the mirrors too, before the registry (a mirror''s tag may be stale)')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;head' {
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s')
            [CompletionResult]::new('--registry-auth', '--registry-auth', [CompletionResultType]::ParameterName, 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Trust the CA certificates in this PEM file (implies https, loopback included)')
            [CompletionResult]::new('--stall-timeout', '--stall-timeout', [CompletionResultType]::ParameterName, 'Give up on a connection that sends nothing for this many seconds [default: 30]')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]')
            [CompletionResult]::new('--max-wait', '--max-wait', [CompletionResultType]::ParameterName, 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]')
            [CompletionResult]::new('--mirror', '--mirror', [CompletionResultType]::ParameterName, 'Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry''s [default: the registry''s `mirrors` in config.toml]')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--check-range', '--check-range', [CompletionResultType]::ParameterName, 'Also ask for the blob''s first byte (a 1-byte ranged GET) and say whether the registry honours Range, which resumed and segmented downloads need')
            [CompletionResult]::new('--plain-http', '--plain-http', [CompletionResultType]::ParameterName, 'Talk plain HTTP to every registry (loopback registries use HTTP already)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password (or token) for --username from stdin')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Accept any TLS certificate, unverified (implies https, loopback included)')
            [CompletionResult]::new('--mirror-only', '--mirror-only', [CompletionResultType]::ParameterName, 'Never fall back to the registry for blobs and manifests by digest (tags are still resolved there unless --mirror-tags)')
            [CompletionResult]::new('--mirror-tags', '--mirror-tags', [CompletionResultType]::ParameterName, 'Resolve tags at the mirrors too, before the registry (a mirror''s tag may be stale)')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on: IP:PORT, `[IPv6]:PORT`, localhost:PORT (127.0.0.1), or :PORT for all interfaces as the reference registry reads it (port 0 picks a free port); non-loopback addresses get a warning')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Most connections served at once; more wait to be accepted')
            [CompletionResult]::new('--header-timeout', '--header-timeout', [CompletionResultType]::ParameterName, 'Close a connection whose request head has not arrived after SECS (also ends idle keep-alive)')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Close a connection that moves no byte for SECS')
            [CompletionResult]::new('--max-connections-per-ip', '--max-connections-per-ip', [CompletionResultType]::ParameterName, 'Most connections one client address (an IPv6 /64) may hold; more get 503 with Retry-After')
            [CompletionResult]::new('--min-send-rate', '--min-send-rate', [CompletionResultType]::ParameterName, 'Drop a client that reads a response slower than SIZE bytes/s for --send-rate-window (K, M, G suffixes; 0 turns the rule off)')
            [CompletionResult]::new('--send-rate-window', '--send-rate-window', [CompletionResultType]::ParameterName, 'How long a client may read slower than --min-send-rate before it is dropped')
            [CompletionResult]::new('--auth-queue', '--auth-queue', [CompletionResultType]::ParameterName, 'With --htpasswd: most requests waiting for or running a password check at once; more get 429 with Retry-After (successful logins are remembered and skip the check)')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1)')
            [CompletionResult]::new('--htpasswd', '--htpasswd', [CompletionResultType]::ParameterName, 'Require HTTP Basic authentication against FILE (bcrypt entries, as `htpasswd -B` writes)')
            [CompletionResult]::new('--upload-ttl', '--upload-ttl', [CompletionResultType]::ParameterName, 'Abort an upload session that received nothing for this long: seconds, or with an s, m, h or d suffix')
            [CompletionResult]::new('--max-upload-sessions', '--max-upload-sessions', [CompletionResultType]::ParameterName, 'Most upload sessions open at once; more get 429')
            [CompletionResult]::new('--max-blob-size', '--max-blob-size', [CompletionResultType]::ParameterName, 'Refuse a pushed blob larger than SIZE with 413: bytes, or with a K, M, G or T suffix (powers of 1024)')
            [CompletionResult]::new('--upstream', '--upstream', [CompletionResultType]::ParameterName, 'Pull-through: fetch what the cache lacks from this registry, URL `http(s)://HOST[:PORT]`, or `REGISTRY=URL` to name the registry it stands for (what containerd''s ?ns= names and tags are recorded under). Repeatable; the first serves requests that name no registry. Blobs and manifests by digest are cached for good, tags for --tag-ttl')
            [CompletionResult]::new('--tag-ttl', '--tag-ttl', [CompletionResultType]::ParameterName, 'With --upstream: trust a cached tag this long, then check it with a HEAD upstream: seconds, or with an s, m, h or d suffix')
            [CompletionResult]::new('--max-size', '--max-size', [CompletionResultType]::ParameterName, 'With --upstream: keep the cache''s blobs under SIZE (K, M, G, T suffixes), evicting the least recently served first as `cache prune` does (checked every few seconds; blobs being fetched are kept)')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s')
            [CompletionResult]::new('--registry-auth', '--registry-auth', [CompletionResultType]::ParameterName, 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Trust the CA certificates in this PEM file (implies https, loopback included)')
            [CompletionResult]::new('--stall-timeout', '--stall-timeout', [CompletionResultType]::ParameterName, 'Give up on a connection that sends nothing for this many seconds [default: 30]')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]')
            [CompletionResult]::new('--max-wait', '--max-wait', [CompletionResultType]::ParameterName, 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--redirect', '--redirect', [CompletionResultType]::ParameterName, 'Answer blob GETs of an s3:// cache with 307 to a presigned URL of the object (valid for 15 minutes), so clients download straight from the object store')
            [CompletionResult]::new('--allow-push', '--allow-push', [CompletionResultType]::ParameterName, 'Accept pushes: blob uploads and manifest PUTs (without it every write gets 405). Without --htpasswd, a non-loopback --listen also needs --insecure-allow-anonymous-push')
            [CompletionResult]::new('--allow-delete', '--allow-delete', [CompletionResultType]::ParameterName, 'Accept DELETE of tags, manifests and blobs (never of content another tag still uses)')
            [CompletionResult]::new('--anonymous-pull', '--anonymous-pull', [CompletionResultType]::ParameterName, 'With --htpasswd: let reads (GET, HEAD) through without credentials; writes still need them')
            [CompletionResult]::new('--insecure-allow-anonymous-push', '--insecure-allow-anonymous-push', [CompletionResultType]::ParameterName, 'Let --allow-push without --htpasswd listen on a non-loopback address: anyone who can reach it may then write to the cache')
            [CompletionResult]::new('--plain-http', '--plain-http', [CompletionResultType]::ParameterName, 'Talk plain HTTP to every registry (loopback registries use HTTP already)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password (or token) for --username from stdin')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Accept any TLS certificate, unverified (implies https, loopback included)')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;pull' {
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'From a multi-platform image, take these platforms: OS/ARCH[/VARIANT], several separated by commas or given again (several record an index of just those) [default: this host''s]')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Fetch up to N blobs at once (over all images)')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Fetch up to N blobs at once (over all images)')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s')
            [CompletionResult]::new('--registry-auth', '--registry-auth', [CompletionResultType]::ParameterName, 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Trust the CA certificates in this PEM file (implies https, loopback included)')
            [CompletionResult]::new('--stall-timeout', '--stall-timeout', [CompletionResultType]::ParameterName, 'Give up on a connection that sends nothing for this many seconds [default: 30]')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]')
            [CompletionResult]::new('--max-wait', '--max-wait', [CompletionResultType]::ParameterName, 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]')
            [CompletionResult]::new('--mirror', '--mirror', [CompletionResultType]::ParameterName, 'Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry''s [default: the registry''s `mirrors` in config.toml]')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--all-platforms', '--all-platforms', [CompletionResultType]::ParameterName, 'From a multi-platform image, take every platform (and record the index itself)')
            [CompletionResult]::new('--verify-cached', '--verify-cached', [CompletionResultType]::ParameterName, 'Re-hash cached blobs before trusting them (a bad one is fetched again)')
            [CompletionResult]::new('--plain-http', '--plain-http', [CompletionResultType]::ParameterName, 'Talk plain HTTP to every registry (loopback registries use HTTP already)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password (or token) for --username from stdin')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Accept any TLS certificate, unverified (implies https, loopback included)')
            [CompletionResult]::new('--mirror-only', '--mirror-only', [CompletionResultType]::ParameterName, 'Never fall back to the registry for blobs and manifests by digest (tags are still resolved there unless --mirror-tags)')
            [CompletionResult]::new('--mirror-tags', '--mirror-tags', [CompletionResultType]::ParameterName, 'Resolve tags at the mirrors too, before the registry (a mirror''s tag may be stale)')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;push' {
            [CompletionResult]::new('--chunk-size', '--chunk-size', [CompletionResultType]::ParameterName, 'Blobs of at least this size are sent in chunks of it (PATCH), smaller ones in one PUT; a number of bytes, or with a K, M or G (KiB, MiB, GiB) suffix')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Send up to N blobs at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Send up to N blobs at once')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s')
            [CompletionResult]::new('--registry-auth', '--registry-auth', [CompletionResultType]::ParameterName, 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Trust the CA certificates in this PEM file (implies https, loopback included)')
            [CompletionResult]::new('--stall-timeout', '--stall-timeout', [CompletionResultType]::ParameterName, 'Give up on a connection that sends nothing for this many seconds [default: 30]')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]')
            [CompletionResult]::new('--max-wait', '--max-wait', [CompletionResultType]::ParameterName, 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--blob', '--blob', [CompletionResultType]::ParameterName, 'Push the one cached blob NAME names (a digest) into the repository DEST')
            [CompletionResult]::new('--verify-cached', '--verify-cached', [CompletionResultType]::ParameterName, 'Re-hash cached blobs before sending anything (a bad one stops the push, exit 5)')
            [CompletionResult]::new('--plain-http', '--plain-http', [CompletionResultType]::ParameterName, 'Talk plain HTTP to every registry (loopback registries use HTTP already)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password (or token) for --username from stdin')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Accept any TLS certificate, unverified (implies https, loopback included)')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;copy' {
            [CompletionResult]::new('--chunk-size', '--chunk-size', [CompletionResultType]::ParameterName, 'Blobs of at least this size are sent in chunks of it (see `push --chunk-size`)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Move up to N blobs at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Move up to N blobs at once')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s')
            [CompletionResult]::new('--registry-auth', '--registry-auth', [CompletionResultType]::ParameterName, 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Trust the CA certificates in this PEM file (implies https, loopback included)')
            [CompletionResult]::new('--stall-timeout', '--stall-timeout', [CompletionResultType]::ParameterName, 'Give up on a connection that sends nothing for this many seconds [default: 30]')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]')
            [CompletionResult]::new('--max-wait', '--max-wait', [CompletionResultType]::ParameterName, 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]')
            [CompletionResult]::new('--mirror', '--mirror', [CompletionResultType]::ParameterName, 'Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry''s [default: the registry''s `mirrors` in config.toml]')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--all-platforms', '--all-platforms', [CompletionResultType]::ParameterName, 'From a multi-platform image, copy every platform and the index itself [default: this host''s platform only]')
            [CompletionResult]::new('--plain-http', '--plain-http', [CompletionResultType]::ParameterName, 'Talk plain HTTP to every registry (loopback registries use HTTP already)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password (or token) for --username from stdin')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Accept any TLS certificate, unverified (implies https, loopback included)')
            [CompletionResult]::new('--mirror-only', '--mirror-only', [CompletionResultType]::ParameterName, 'Never fall back to the registry for blobs and manifests by digest (tags are still resolved there unless --mirror-tags)')
            [CompletionResult]::new('--mirror-tags', '--mirror-tags', [CompletionResultType]::ParameterName, 'Resolve tags at the mirrors too, before the registry (a mirror''s tag may be stale)')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;sync' {
            [CompletionResult]::new('--match', '--match', [CompletionResultType]::ParameterName, 'Only the references whose full name matches GLOB (`*` any characters, `?` one)')
            [CompletionResult]::new('--chunk-size', '--chunk-size', [CompletionResultType]::ParameterName, 'Blobs of at least this size are sent in chunks of it (see `push --chunk-size`)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Send up to N blobs at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Send up to N blobs at once')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s')
            [CompletionResult]::new('--registry-auth', '--registry-auth', [CompletionResultType]::ParameterName, 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Trust the CA certificates in this PEM file (implies https, loopback included)')
            [CompletionResult]::new('--stall-timeout', '--stall-timeout', [CompletionResultType]::ParameterName, 'Give up on a connection that sends nothing for this many seconds [default: 30]')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]')
            [CompletionResult]::new('--max-wait', '--max-wait', [CompletionResultType]::ParameterName, 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--verify-cached', '--verify-cached', [CompletionResultType]::ParameterName, 'Re-hash cached blobs before sending anything')
            [CompletionResult]::new('--plain-http', '--plain-http', [CompletionResultType]::ParameterName, 'Talk plain HTTP to every registry (loopback registries use HTTP already)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password (or token) for --username from stdin')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Accept any TLS certificate, unverified (implies https, loopback included)')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;cache' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List the references in the cache (index.json), or with --blobs every blob')
            [CompletionResult]::new('du', 'du', [CompletionResultType]::ParameterValue, 'Show the cache''s size: blobs, partial downloads, quarantine')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Re-hash blobs (all by default); bad ones are moved to quarantine/ (exit 5)')
            [CompletionResult]::new('gc', 'gc', [CompletionResultType]::ParameterValue, 'Remove blobs no reference needs, stale partial downloads and the quarantine')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Evict least-recently-used images and blobs until the cache fits in SIZE')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove a reference (and the blobs only it used) or a blob')
            [CompletionResult]::new('path', 'path', [CompletionResultType]::ParameterValue, 'Print the path of a cached blob')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'layerget;cache;ls' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--blobs', '--blobs', [CompletionResultType]::ParameterName, 'List every blob with its size and last use instead of the references')
            [CompletionResult]::new('--bytes', '--bytes', [CompletionResultType]::ParameterName, 'With --blobs: sizes in bytes rather than KiB, MiB, GiB')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;cache;du' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;cache;verify' {
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hash up to N blobs at once [default: the number of CPUs]')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Hash up to N blobs at once [default: the number of CPUs]')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;cache;gc' {
            [CompletionResult]::new('--ingest-age', '--ingest-age', [CompletionResultType]::ParameterName, 'Remove partial downloads untouched for this long: seconds, or with s, m, h or d. On an s3:// cache also the grace period of unreachable blobs: only older objects are removed')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would be removed; remove nothing')
            [CompletionResult]::new('--loose', '--loose', [CompletionResultType]::ParameterName, 'Also remove blobs that no manifest in the cache names (fetched by digest alone)')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;cache;prune' {
            [CompletionResult]::new('--max-size', '--max-size', [CompletionResultType]::ParameterName, 'Largest size of blobs/ to keep: bytes, or with a K, M, G or T suffix (powers of 1024)')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would be evicted; remove nothing')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;cache;rm' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;cache;path' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;cache;help' {
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List the references in the cache (index.json), or with --blobs every blob')
            [CompletionResult]::new('du', 'du', [CompletionResultType]::ParameterValue, 'Show the cache''s size: blobs, partial downloads, quarantine')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Re-hash blobs (all by default); bad ones are moved to quarantine/ (exit 5)')
            [CompletionResult]::new('gc', 'gc', [CompletionResultType]::ParameterValue, 'Remove blobs no reference needs, stale partial downloads and the quarantine')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Evict least-recently-used images and blobs until the cache fits in SIZE')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove a reference (and the blobs only it used) or a blob')
            [CompletionResult]::new('path', 'path', [CompletionResultType]::ParameterValue, 'Print the path of a cached blob')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'layerget;cache;help;ls' {
            break
        }
        'layerget;cache;help;du' {
            break
        }
        'layerget;cache;help;verify' {
            break
        }
        'layerget;cache;help;gc' {
            break
        }
        'layerget;cache;help;prune' {
            break
        }
        'layerget;cache;help;rm' {
            break
        }
        'layerget;cache;help;path' {
            break
        }
        'layerget;cache;help;help' {
            break
        }
        'layerget;completions' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;generate' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]')
            [CompletionResult]::new('--s3-endpoint', '--s3-endpoint', [CompletionResultType]::ParameterName, 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none')
            [CompletionResult]::new('--s3-path-style', '--s3-path-style', [CompletionResultType]::ParameterName, 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON on stdout, one object per line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no informational messages on stderr (errors are still shown)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v, -vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'layerget;help' {
            [CompletionResult]::new('fetch', 'fetch', [CompletionResultType]::ParameterValue, 'Download blobs by digest into the cache, verified, and print their cache paths')
            [CompletionResult]::new('head', 'head', [CompletionResultType]::ParameterValue, 'Ask a registry about a blob without downloading it')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve the cache as a registry (OCI Distribution API: pulls; pushes with --allow-push)')
            [CompletionResult]::new('pull', 'pull', [CompletionResultType]::ParameterValue, 'Pull whole images (manifests, configs, layers) into the cache and record their references')
            [CompletionResult]::new('push', 'push', [CompletionResultType]::ParameterValue, 'Push an image recorded in the cache (or one cached blob) to a registry')
            [CompletionResult]::new('copy', 'copy', [CompletionResultType]::ParameterValue, 'Copy an image from one registry to another, through the cache')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Push every reference recorded in the cache under one destination prefix')
            [CompletionResult]::new('cache', 'cache', [CompletionResultType]::ParameterValue, 'Inspect and look after the cache: ls, du, verify, gc, prune, rm, path')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions for SHELL on stdout (e.g. `layerget completions bash > ~/.local/share/bash-completion/completions/layerget`)')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write completions/ (every supported shell) and man/ (man pages) into DIR')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'layerget;help;fetch' {
            break
        }
        'layerget;help;head' {
            break
        }
        'layerget;help;serve' {
            break
        }
        'layerget;help;pull' {
            break
        }
        'layerget;help;push' {
            break
        }
        'layerget;help;copy' {
            break
        }
        'layerget;help;sync' {
            break
        }
        'layerget;help;cache' {
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List the references in the cache (index.json), or with --blobs every blob')
            [CompletionResult]::new('du', 'du', [CompletionResultType]::ParameterValue, 'Show the cache''s size: blobs, partial downloads, quarantine')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Re-hash blobs (all by default); bad ones are moved to quarantine/ (exit 5)')
            [CompletionResult]::new('gc', 'gc', [CompletionResultType]::ParameterValue, 'Remove blobs no reference needs, stale partial downloads and the quarantine')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Evict least-recently-used images and blobs until the cache fits in SIZE')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove a reference (and the blobs only it used) or a blob')
            [CompletionResult]::new('path', 'path', [CompletionResultType]::ParameterValue, 'Print the path of a cached blob')
            break
        }
        'layerget;help;cache;ls' {
            break
        }
        'layerget;help;cache;du' {
            break
        }
        'layerget;help;cache;verify' {
            break
        }
        'layerget;help;cache;gc' {
            break
        }
        'layerget;help;cache;prune' {
            break
        }
        'layerget;help;cache;rm' {
            break
        }
        'layerget;help;cache;path' {
            break
        }
        'layerget;help;completions' {
            break
        }
        'layerget;help;generate' {
            break
        }
        'layerget;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
