
use builtin;
use str;

set edit:completion:arg-completer[layerget] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'layerget'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'layerget'= {
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --username 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s'
            cand --registry-auth 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]'
            cand --ca-file 'Trust the CA certificates in this PEM file (implies https, loopback included)'
            cand --stall-timeout 'Give up on a connection that sends nothing for this many seconds [default: 30]'
            cand --retries 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]'
            cand --max-wait 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand --plain-http 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
            cand --password-stdin 'Read the password (or token) for --username from stdin'
            cand --insecure 'Accept any TLS certificate, unverified (implies https, loopback included)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand fetch 'Download blobs by digest into the cache, verified, and print their cache paths'
            cand head 'Ask a registry about a blob without downloading it'
            cand serve 'Serve the cache as a registry (OCI Distribution API: pulls; pushes with --allow-push)'
            cand pull 'Pull whole images (manifests, configs, layers) into the cache and record their references'
            cand push 'Push an image recorded in the cache (or one cached blob) to a registry'
            cand copy 'Copy an image from one registry to another, through the cache'
            cand sync 'Push every reference recorded in the cache under one destination prefix'
            cand cache 'Inspect and look after the cache: ls, du, verify, gc, prune, rm, path'
            cand completions 'Print shell completions for SHELL on stdout (e.g. `layerget completions bash > ~/.local/share/bash-completion/completions/layerget`)'
            cand generate 'Write completions/ (every supported shell) and man/ (man pages) into DIR'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'layerget;fetch'= {
            cand -o 'Also write a verified copy to PATH (a directory with several REFs; `-` for stdout)'
            cand --output 'Also write a verified copy to PATH (a directory with several REFs; `-` for stdout)'
            cand -j 'Fetch up to N blobs at once'
            cand --jobs 'Fetch up to N blobs at once'
            cand --segments 'Parallel Range requests for one big blob (1 = a single stream) [default: 4, or 1 for loopback registries, where segments only add work]'
            cand --segment-min 'Smallest blob fetched in segments: bytes, or with a K, M, G or T suffix (powers of 1024)'
            cand --max-size 'Refuse a blob larger than SIZE (a body that does not say its length is cut off there): bytes, or with a K, M, G or T suffix (powers of 1024)'
            cand --username 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s'
            cand --registry-auth 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]'
            cand --ca-file 'Trust the CA certificates in this PEM file (implies https, loopback included)'
            cand --stall-timeout 'Give up on a connection that sends nothing for this many seconds [default: 30]'
            cand --retries 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]'
            cand --max-wait 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]'
            cand --mirror 'Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry''s [default: the registry''s `mirrors` in config.toml]'
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --verify-cached 'Re-hash cached blobs before trusting them (a bad one is fetched again)'
            cand --plain-http 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
            cand --password-stdin 'Read the password (or token) for --username from stdin'
            cand --insecure 'Accept any TLS certificate, unverified (implies https, loopback included)'
            cand --mirror-only 'Never fall back to the registry for blobs and manifests by digest (tags are still resolved there unless --mirror-tags)'
            cand --mirror-tags 'Resolve tags at the mirrors too, before the registry (a mirror''s tag may be stale)'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;head'= {
            cand --username 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s'
            cand --registry-auth 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]'
            cand --ca-file 'Trust the CA certificates in this PEM file (implies https, loopback included)'
            cand --stall-timeout 'Give up on a connection that sends nothing for this many seconds [default: 30]'
            cand --retries 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]'
            cand --max-wait 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]'
            cand --mirror 'Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry''s [default: the registry''s `mirrors` in config.toml]'
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --check-range 'Also ask for the blob''s first byte (a 1-byte ranged GET) and say whether the registry honours Range, which resumed and segmented downloads need'
            cand --plain-http 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
            cand --password-stdin 'Read the password (or token) for --username from stdin'
            cand --insecure 'Accept any TLS certificate, unverified (implies https, loopback included)'
            cand --mirror-only 'Never fall back to the registry for blobs and manifests by digest (tags are still resolved there unless --mirror-tags)'
            cand --mirror-tags 'Resolve tags at the mirrors too, before the registry (a mirror''s tag may be stale)'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;serve'= {
            cand --listen 'Address to listen on: IP:PORT, `[IPv6]:PORT`, localhost:PORT (127.0.0.1), or :PORT for all interfaces as the reference registry reads it (port 0 picks a free port); non-loopback addresses get a warning'
            cand --max-connections 'Most connections served at once; more wait to be accepted'
            cand --header-timeout 'Close a connection whose request head has not arrived after SECS (also ends idle keep-alive)'
            cand --idle-timeout 'Close a connection that moves no byte for SECS'
            cand --max-connections-per-ip 'Most connections one client address (an IPv6 /64) may hold; more get 503 with Retry-After'
            cand --min-send-rate 'Drop a client that reads a response slower than SIZE bytes/s for --send-rate-window (K, M, G suffixes; 0 turns the rule off)'
            cand --send-rate-window 'How long a client may read slower than --min-send-rate before it is dropped'
            cand --auth-queue 'With --htpasswd: most requests waiting for or running a password check at once; more get 429 with Retry-After (successful logins are remembered and skip the check)'
            cand --tls-cert 'Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key'
            cand --tls-key 'The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1)'
            cand --htpasswd 'Require HTTP Basic authentication against FILE (bcrypt entries, as `htpasswd -B` writes)'
            cand --upload-ttl 'Abort an upload session that received nothing for this long: seconds, or with an s, m, h or d suffix'
            cand --max-upload-sessions 'Most upload sessions open at once; more get 429'
            cand --max-blob-size 'Refuse a pushed blob larger than SIZE with 413: bytes, or with a K, M, G or T suffix (powers of 1024)'
            cand --upstream 'Pull-through: fetch what the cache lacks from this registry, URL `http(s)://HOST[:PORT]`, or `REGISTRY=URL` to name the registry it stands for (what containerd''s ?ns= names and tags are recorded under). Repeatable; the first serves requests that name no registry. Blobs and manifests by digest are cached for good, tags for --tag-ttl'
            cand --tag-ttl 'With --upstream: trust a cached tag this long, then check it with a HEAD upstream: seconds, or with an s, m, h or d suffix'
            cand --max-size 'With --upstream: keep the cache''s blobs under SIZE (K, M, G, T suffixes), evicting the least recently served first as `cache prune` does (checked every few seconds; blobs being fetched are kept)'
            cand --username 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s'
            cand --registry-auth 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]'
            cand --ca-file 'Trust the CA certificates in this PEM file (implies https, loopback included)'
            cand --stall-timeout 'Give up on a connection that sends nothing for this many seconds [default: 30]'
            cand --retries 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]'
            cand --max-wait 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]'
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --redirect 'Answer blob GETs of an s3:// cache with 307 to a presigned URL of the object (valid for 15 minutes), so clients download straight from the object store'
            cand --allow-push 'Accept pushes: blob uploads and manifest PUTs (without it every write gets 405). Without --htpasswd, a non-loopback --listen also needs --insecure-allow-anonymous-push'
            cand --allow-delete 'Accept DELETE of tags, manifests and blobs (never of content another tag still uses)'
            cand --anonymous-pull 'With --htpasswd: let reads (GET, HEAD) through without credentials; writes still need them'
            cand --insecure-allow-anonymous-push 'Let --allow-push without --htpasswd listen on a non-loopback address: anyone who can reach it may then write to the cache'
            cand --plain-http 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
            cand --password-stdin 'Read the password (or token) for --username from stdin'
            cand --insecure 'Accept any TLS certificate, unverified (implies https, loopback included)'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;pull'= {
            cand --platform 'From a multi-platform image, take these platforms: OS/ARCH[/VARIANT], several separated by commas or given again (several record an index of just those) [default: this host''s]'
            cand -j 'Fetch up to N blobs at once (over all images)'
            cand --jobs 'Fetch up to N blobs at once (over all images)'
            cand --username 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s'
            cand --registry-auth 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]'
            cand --ca-file 'Trust the CA certificates in this PEM file (implies https, loopback included)'
            cand --stall-timeout 'Give up on a connection that sends nothing for this many seconds [default: 30]'
            cand --retries 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]'
            cand --max-wait 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]'
            cand --mirror 'Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry''s [default: the registry''s `mirrors` in config.toml]'
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --all-platforms 'From a multi-platform image, take every platform (and record the index itself)'
            cand --verify-cached 'Re-hash cached blobs before trusting them (a bad one is fetched again)'
            cand --plain-http 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
            cand --password-stdin 'Read the password (or token) for --username from stdin'
            cand --insecure 'Accept any TLS certificate, unverified (implies https, loopback included)'
            cand --mirror-only 'Never fall back to the registry for blobs and manifests by digest (tags are still resolved there unless --mirror-tags)'
            cand --mirror-tags 'Resolve tags at the mirrors too, before the registry (a mirror''s tag may be stale)'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;push'= {
            cand --chunk-size 'Blobs of at least this size are sent in chunks of it (PATCH), smaller ones in one PUT; a number of bytes, or with a K, M or G (KiB, MiB, GiB) suffix'
            cand -j 'Send up to N blobs at once'
            cand --jobs 'Send up to N blobs at once'
            cand --username 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s'
            cand --registry-auth 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]'
            cand --ca-file 'Trust the CA certificates in this PEM file (implies https, loopback included)'
            cand --stall-timeout 'Give up on a connection that sends nothing for this many seconds [default: 30]'
            cand --retries 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]'
            cand --max-wait 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]'
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --blob 'Push the one cached blob NAME names (a digest) into the repository DEST'
            cand --verify-cached 'Re-hash cached blobs before sending anything (a bad one stops the push, exit 5)'
            cand --plain-http 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
            cand --password-stdin 'Read the password (or token) for --username from stdin'
            cand --insecure 'Accept any TLS certificate, unverified (implies https, loopback included)'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;copy'= {
            cand --chunk-size 'Blobs of at least this size are sent in chunks of it (see `push --chunk-size`)'
            cand -j 'Move up to N blobs at once'
            cand --jobs 'Move up to N blobs at once'
            cand --username 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s'
            cand --registry-auth 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]'
            cand --ca-file 'Trust the CA certificates in this PEM file (implies https, loopback included)'
            cand --stall-timeout 'Give up on a connection that sends nothing for this many seconds [default: 30]'
            cand --retries 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]'
            cand --max-wait 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]'
            cand --mirror 'Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry''s [default: the registry''s `mirrors` in config.toml]'
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --all-platforms 'From a multi-platform image, copy every platform and the index itself [default: this host''s platform only]'
            cand --plain-http 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
            cand --password-stdin 'Read the password (or token) for --username from stdin'
            cand --insecure 'Accept any TLS certificate, unverified (implies https, loopback included)'
            cand --mirror-only 'Never fall back to the registry for blobs and manifests by digest (tags are still resolved there unless --mirror-tags)'
            cand --mirror-tags 'Resolve tags at the mirrors too, before the registry (a mirror''s tag may be stale)'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;sync'= {
            cand --match 'Only the references whose full name matches GLOB (`*` any characters, `?` one)'
            cand --chunk-size 'Blobs of at least this size are sent in chunks of it (see `push --chunk-size`)'
            cand -j 'Send up to N blobs at once'
            cand --jobs 'Send up to N blobs at once'
            cand --username 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF''s'
            cand --registry-auth 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF''s registry]'
            cand --ca-file 'Trust the CA certificates in this PEM file (implies https, loopback included)'
            cand --stall-timeout 'Give up on a connection that sends nothing for this many seconds [default: 30]'
            cand --retries 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]'
            cand --max-wait 'Longest wait a registry''s Retry-After may impose, in seconds [default: 120]'
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --verify-cached 'Re-hash cached blobs before sending anything'
            cand --plain-http 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
            cand --password-stdin 'Read the password (or token) for --username from stdin'
            cand --insecure 'Accept any TLS certificate, unverified (implies https, loopback included)'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;cache'= {
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand ls 'List the references in the cache (index.json), or with --blobs every blob'
            cand du 'Show the cache''s size: blobs, partial downloads, quarantine'
            cand verify 'Re-hash blobs (all by default); bad ones are moved to quarantine/ (exit 5)'
            cand gc 'Remove blobs no reference needs, stale partial downloads and the quarantine'
            cand prune 'Evict least-recently-used images and blobs until the cache fits in SIZE'
            cand rm 'Remove a reference (and the blobs only it used) or a blob'
            cand path 'Print the path of a cached blob'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'layerget;cache;ls'= {
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --blobs 'List every blob with its size and last use instead of the references'
            cand --bytes 'With --blobs: sizes in bytes rather than KiB, MiB, GiB'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;cache;du'= {
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;cache;verify'= {
            cand -j 'Hash up to N blobs at once [default: the number of CPUs]'
            cand --jobs 'Hash up to N blobs at once [default: the number of CPUs]'
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;cache;gc'= {
            cand --ingest-age 'Remove partial downloads untouched for this long: seconds, or with s, m, h or d. On an s3:// cache also the grace period of unreachable blobs: only older objects are removed'
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --dry-run 'Show what would be removed; remove nothing'
            cand --loose 'Also remove blobs that no manifest in the cache names (fetched by digest alone)'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;cache;prune'= {
            cand --max-size 'Largest size of blobs/ to keep: bytes, or with a K, M, G or T suffix (powers of 1024)'
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --dry-run 'Show what would be evicted; remove nothing'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;cache;rm'= {
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;cache;path'= {
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;cache;help'= {
            cand ls 'List the references in the cache (index.json), or with --blobs every blob'
            cand du 'Show the cache''s size: blobs, partial downloads, quarantine'
            cand verify 'Re-hash blobs (all by default); bad ones are moved to quarantine/ (exit 5)'
            cand gc 'Remove blobs no reference needs, stale partial downloads and the quarantine'
            cand prune 'Evict least-recently-used images and blobs until the cache fits in SIZE'
            cand rm 'Remove a reference (and the blobs only it used) or a blob'
            cand path 'Print the path of a cached blob'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'layerget;cache;help;ls'= {
        }
        &'layerget;cache;help;du'= {
        }
        &'layerget;cache;help;verify'= {
        }
        &'layerget;cache;help;gc'= {
        }
        &'layerget;cache;help;prune'= {
        }
        &'layerget;cache;help;rm'= {
        }
        &'layerget;cache;help;path'= {
        }
        &'layerget;cache;help;help'= {
        }
        &'layerget;completions'= {
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;generate'= {
            cand --cache-dir 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]'
            cand --s3-endpoint 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]'
            cand --color 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never'
            cand --progress 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none'
            cand --s3-path-style 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
            cand --json 'Print results as JSON on stdout, one object per line'
            cand -q 'No progress and no informational messages on stderr (errors are still shown)'
            cand --quiet 'No progress and no informational messages on stderr (errors are still shown)'
            cand -v 'More log output on stderr (-v, -vv)'
            cand --verbose 'More log output on stderr (-v, -vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'layerget;help'= {
            cand fetch 'Download blobs by digest into the cache, verified, and print their cache paths'
            cand head 'Ask a registry about a blob without downloading it'
            cand serve 'Serve the cache as a registry (OCI Distribution API: pulls; pushes with --allow-push)'
            cand pull 'Pull whole images (manifests, configs, layers) into the cache and record their references'
            cand push 'Push an image recorded in the cache (or one cached blob) to a registry'
            cand copy 'Copy an image from one registry to another, through the cache'
            cand sync 'Push every reference recorded in the cache under one destination prefix'
            cand cache 'Inspect and look after the cache: ls, du, verify, gc, prune, rm, path'
            cand completions 'Print shell completions for SHELL on stdout (e.g. `layerget completions bash > ~/.local/share/bash-completion/completions/layerget`)'
            cand generate 'Write completions/ (every supported shell) and man/ (man pages) into DIR'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'layerget;help;fetch'= {
        }
        &'layerget;help;head'= {
        }
        &'layerget;help;serve'= {
        }
        &'layerget;help;pull'= {
        }
        &'layerget;help;push'= {
        }
        &'layerget;help;copy'= {
        }
        &'layerget;help;sync'= {
        }
        &'layerget;help;cache'= {
            cand ls 'List the references in the cache (index.json), or with --blobs every blob'
            cand du 'Show the cache''s size: blobs, partial downloads, quarantine'
            cand verify 'Re-hash blobs (all by default); bad ones are moved to quarantine/ (exit 5)'
            cand gc 'Remove blobs no reference needs, stale partial downloads and the quarantine'
            cand prune 'Evict least-recently-used images and blobs until the cache fits in SIZE'
            cand rm 'Remove a reference (and the blobs only it used) or a blob'
            cand path 'Print the path of a cached blob'
        }
        &'layerget;help;cache;ls'= {
        }
        &'layerget;help;cache;du'= {
        }
        &'layerget;help;cache;verify'= {
        }
        &'layerget;help;cache;gc'= {
        }
        &'layerget;help;cache;prune'= {
        }
        &'layerget;help;cache;rm'= {
        }
        &'layerget;help;cache;path'= {
        }
        &'layerget;help;completions'= {
        }
        &'layerget;help;generate'= {
        }
        &'layerget;help;help'= {
        }
    ]
    $completions[$command]
}
