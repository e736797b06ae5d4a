# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_layerget_global_optspecs
    string join \n cache-dir= s3-endpoint= s3-path-style json q/quiet v/verbose color= progress= plain-http username= registry-auth= password-stdin ca-file= insecure stall-timeout= retries= max-wait= h/help V/version
end

function __fish_layerget_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_layerget_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_layerget_using_subcommand
    set -l cmd (__fish_layerget_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c layerget -n "__fish_layerget_needs_command" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_needs_command" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_needs_command" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_needs_command" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_needs_command" -l username -d 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF\'s' -r
complete -c layerget -n "__fish_layerget_needs_command" -l registry-auth -d 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF\'s registry]' -r
complete -c layerget -n "__fish_layerget_needs_command" -l ca-file -d 'Trust the CA certificates in this PEM file (implies https, loopback included)' -r -F
complete -c layerget -n "__fish_layerget_needs_command" -l stall-timeout -d 'Give up on a connection that sends nothing for this many seconds [default: 30]' -r
complete -c layerget -n "__fish_layerget_needs_command" -l retries -d 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]' -r
complete -c layerget -n "__fish_layerget_needs_command" -l max-wait -d 'Longest wait a registry\'s Retry-After may impose, in seconds [default: 120]' -r
complete -c layerget -n "__fish_layerget_needs_command" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_needs_command" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_needs_command" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_needs_command" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_needs_command" -l plain-http -d 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
complete -c layerget -n "__fish_layerget_needs_command" -l password-stdin -d 'Read the password (or token) for --username from stdin'
complete -c layerget -n "__fish_layerget_needs_command" -l insecure -d 'Accept any TLS certificate, unverified (implies https, loopback included)'
complete -c layerget -n "__fish_layerget_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_needs_command" -s V -l version -d 'Print version'
complete -c layerget -n "__fish_layerget_needs_command" -f -a "fetch" -d 'Download blobs by digest into the cache, verified, and print their cache paths'
complete -c layerget -n "__fish_layerget_needs_command" -f -a "head" -d 'Ask a registry about a blob without downloading it'
complete -c layerget -n "__fish_layerget_needs_command" -f -a "serve" -d 'Serve the cache as a registry (OCI Distribution API: pulls; pushes with --allow-push)'
complete -c layerget -n "__fish_layerget_needs_command" -f -a "pull" -d 'Pull whole images (manifests, configs, layers) into the cache and record their references'
complete -c layerget -n "__fish_layerget_needs_command" -f -a "push" -d 'Push an image recorded in the cache (or one cached blob) to a registry'
complete -c layerget -n "__fish_layerget_needs_command" -f -a "copy" -d 'Copy an image from one registry to another, through the cache'
complete -c layerget -n "__fish_layerget_needs_command" -f -a "sync" -d 'Push every reference recorded in the cache under one destination prefix'
complete -c layerget -n "__fish_layerget_needs_command" -f -a "cache" -d 'Inspect and look after the cache: ls, du, verify, gc, prune, rm, path'
complete -c layerget -n "__fish_layerget_needs_command" -f -a "completions" -d 'Print shell completions for SHELL on stdout (e.g. `layerget completions bash > ~/.local/share/bash-completion/completions/layerget`)'
complete -c layerget -n "__fish_layerget_needs_command" -f -a "generate" -d 'Write completions/ (every supported shell) and man/ (man pages) into DIR'
complete -c layerget -n "__fish_layerget_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -s o -l output -d 'Also write a verified copy to PATH (a directory with several REFs; `-` for stdout)' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -s j -l jobs -d 'Fetch up to N blobs at once' -r
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l segments -d 'Parallel Range requests for one big blob (1 = a single stream) [default: 4, or 1 for loopback registries, where segments only add work]' -r
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l segment-min -d 'Smallest blob fetched in segments: bytes, or with a K, M, G or T suffix (powers of 1024)' -r
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l max-size -d 'Refuse a blob larger than SIZE (a body that does not say its length is cut off there): bytes, or with a K, M, G or T suffix (powers of 1024)' -r
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l username -d 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF\'s' -r
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l registry-auth -d 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF\'s registry]' -r
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l ca-file -d 'Trust the CA certificates in this PEM file (implies https, loopback included)' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l stall-timeout -d 'Give up on a connection that sends nothing for this many seconds [default: 30]' -r
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l retries -d 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]' -r
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l max-wait -d 'Longest wait a registry\'s Retry-After may impose, in seconds [default: 120]' -r
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l mirror -d 'Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry\'s [default: the registry\'s `mirrors` in config.toml]' -r
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l verify-cached -d 'Re-hash cached blobs before trusting them (a bad one is fetched again)'
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l plain-http -d 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l password-stdin -d 'Read the password (or token) for --username from stdin'
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l insecure -d 'Accept any TLS certificate, unverified (implies https, loopback included)'
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l mirror-only -d 'Never fall back to the registry for blobs and manifests by digest (tags are still resolved there unless --mirror-tags)'
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l mirror-tags -d 'Resolve tags at the mirrors too, before the registry (a mirror\'s tag may be stale)'
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand fetch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand head" -l username -d 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF\'s' -r
complete -c layerget -n "__fish_layerget_using_subcommand head" -l registry-auth -d 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF\'s registry]' -r
complete -c layerget -n "__fish_layerget_using_subcommand head" -l ca-file -d 'Trust the CA certificates in this PEM file (implies https, loopback included)' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand head" -l stall-timeout -d 'Give up on a connection that sends nothing for this many seconds [default: 30]' -r
complete -c layerget -n "__fish_layerget_using_subcommand head" -l retries -d 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]' -r
complete -c layerget -n "__fish_layerget_using_subcommand head" -l max-wait -d 'Longest wait a registry\'s Retry-After may impose, in seconds [default: 120]' -r
complete -c layerget -n "__fish_layerget_using_subcommand head" -l mirror -d 'Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry\'s [default: the registry\'s `mirrors` in config.toml]' -r
complete -c layerget -n "__fish_layerget_using_subcommand head" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand head" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand head" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand head" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand head" -l check-range -d 'Also ask for the blob\'s first byte (a 1-byte ranged GET) and say whether the registry honours Range, which resumed and segmented downloads need'
complete -c layerget -n "__fish_layerget_using_subcommand head" -l plain-http -d 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
complete -c layerget -n "__fish_layerget_using_subcommand head" -l password-stdin -d 'Read the password (or token) for --username from stdin'
complete -c layerget -n "__fish_layerget_using_subcommand head" -l insecure -d 'Accept any TLS certificate, unverified (implies https, loopback included)'
complete -c layerget -n "__fish_layerget_using_subcommand head" -l mirror-only -d 'Never fall back to the registry for blobs and manifests by digest (tags are still resolved there unless --mirror-tags)'
complete -c layerget -n "__fish_layerget_using_subcommand head" -l mirror-tags -d 'Resolve tags at the mirrors too, before the registry (a mirror\'s tag may be stale)'
complete -c layerget -n "__fish_layerget_using_subcommand head" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand head" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand head" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand head" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand head" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l listen -d 'Address to listen on: IP:PORT, `[IPv6]:PORT`, localhost:PORT (127.0.0.1), or :PORT for all interfaces as the reference registry reads it (port 0 picks a free port); non-loopback addresses get a warning' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l max-connections -d 'Most connections served at once; more wait to be accepted' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l header-timeout -d 'Close a connection whose request head has not arrived after SECS (also ends idle keep-alive)' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l idle-timeout -d 'Close a connection that moves no byte for SECS' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l max-connections-per-ip -d 'Most connections one client address (an IPv6 /64) may hold; more get 503 with Retry-After' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l min-send-rate -d 'Drop a client that reads a response slower than SIZE bytes/s for --send-rate-window (K, M, G suffixes; 0 turns the rule off)' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l send-rate-window -d 'How long a client may read slower than --min-send-rate before it is dropped' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l auth-queue -d 'With --htpasswd: most requests waiting for or running a password check at once; more get 429 with Retry-After (successful logins are remembered and skip the check)' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l tls-cert -d 'Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l tls-key -d 'The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1)' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l htpasswd -d 'Require HTTP Basic authentication against FILE (bcrypt entries, as `htpasswd -B` writes)' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l upload-ttl -d 'Abort an upload session that received nothing for this long: seconds, or with an s, m, h or d suffix' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l max-upload-sessions -d 'Most upload sessions open at once; more get 429' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l max-blob-size -d 'Refuse a pushed blob larger than SIZE with 413: bytes, or with a K, M, G or T suffix (powers of 1024)' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l upstream -d 'Pull-through: fetch what the cache lacks from this registry, URL `http(s)://HOST[:PORT]`, or `REGISTRY=URL` to name the registry it stands for (what containerd\'s ?ns= names and tags are recorded under). Repeatable; the first serves requests that name no registry. Blobs and manifests by digest are cached for good, tags for --tag-ttl' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l tag-ttl -d 'With --upstream: trust a cached tag this long, then check it with a HEAD upstream: seconds, or with an s, m, h or d suffix' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l max-size -d 'With --upstream: keep the cache\'s blobs under SIZE (K, M, G, T suffixes), evicting the least recently served first as `cache prune` does (checked every few seconds; blobs being fetched are kept)' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l username -d 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF\'s' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l registry-auth -d 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF\'s registry]' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l ca-file -d 'Trust the CA certificates in this PEM file (implies https, loopback included)' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l stall-timeout -d 'Give up on a connection that sends nothing for this many seconds [default: 30]' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l retries -d 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l max-wait -d 'Longest wait a registry\'s Retry-After may impose, in seconds [default: 120]' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l redirect -d 'Answer blob GETs of an s3:// cache with 307 to a presigned URL of the object (valid for 15 minutes), so clients download straight from the object store'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l allow-push -d 'Accept pushes: blob uploads and manifest PUTs (without it every write gets 405). Without --htpasswd, a non-loopback --listen also needs --insecure-allow-anonymous-push'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l allow-delete -d 'Accept DELETE of tags, manifests and blobs (never of content another tag still uses)'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l anonymous-pull -d 'With --htpasswd: let reads (GET, HEAD) through without credentials; writes still need them'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l insecure-allow-anonymous-push -d 'Let --allow-push without --htpasswd listen on a non-loopback address: anyone who can reach it may then write to the cache'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l plain-http -d 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l password-stdin -d 'Read the password (or token) for --username from stdin'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l insecure -d 'Accept any TLS certificate, unverified (implies https, loopback included)'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l platform -d 'From a multi-platform image, take these platforms: OS/ARCH[/VARIANT], several separated by commas or given again (several record an index of just those) [default: this host\'s]' -r
complete -c layerget -n "__fish_layerget_using_subcommand pull" -s j -l jobs -d 'Fetch up to N blobs at once (over all images)' -r
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l username -d 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF\'s' -r
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l registry-auth -d 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF\'s registry]' -r
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l ca-file -d 'Trust the CA certificates in this PEM file (implies https, loopback included)' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l stall-timeout -d 'Give up on a connection that sends nothing for this many seconds [default: 30]' -r
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l retries -d 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]' -r
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l max-wait -d 'Longest wait a registry\'s Retry-After may impose, in seconds [default: 120]' -r
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l mirror -d 'Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry\'s [default: the registry\'s `mirrors` in config.toml]' -r
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l all-platforms -d 'From a multi-platform image, take every platform (and record the index itself)'
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l verify-cached -d 'Re-hash cached blobs before trusting them (a bad one is fetched again)'
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l plain-http -d 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l password-stdin -d 'Read the password (or token) for --username from stdin'
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l insecure -d 'Accept any TLS certificate, unverified (implies https, loopback included)'
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l mirror-only -d 'Never fall back to the registry for blobs and manifests by digest (tags are still resolved there unless --mirror-tags)'
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l mirror-tags -d 'Resolve tags at the mirrors too, before the registry (a mirror\'s tag may be stale)'
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand pull" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand pull" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand pull" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand pull" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand push" -l chunk-size -d 'Blobs of at least this size are sent in chunks of it (PATCH), smaller ones in one PUT; a number of bytes, or with a K, M or G (KiB, MiB, GiB) suffix' -r
complete -c layerget -n "__fish_layerget_using_subcommand push" -s j -l jobs -d 'Send up to N blobs at once' -r
complete -c layerget -n "__fish_layerget_using_subcommand push" -l username -d 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF\'s' -r
complete -c layerget -n "__fish_layerget_using_subcommand push" -l registry-auth -d 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF\'s registry]' -r
complete -c layerget -n "__fish_layerget_using_subcommand push" -l ca-file -d 'Trust the CA certificates in this PEM file (implies https, loopback included)' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand push" -l stall-timeout -d 'Give up on a connection that sends nothing for this many seconds [default: 30]' -r
complete -c layerget -n "__fish_layerget_using_subcommand push" -l retries -d 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]' -r
complete -c layerget -n "__fish_layerget_using_subcommand push" -l max-wait -d 'Longest wait a registry\'s Retry-After may impose, in seconds [default: 120]' -r
complete -c layerget -n "__fish_layerget_using_subcommand push" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand push" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand push" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand push" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand push" -l blob -d 'Push the one cached blob NAME names (a digest) into the repository DEST'
complete -c layerget -n "__fish_layerget_using_subcommand push" -l verify-cached -d 'Re-hash cached blobs before sending anything (a bad one stops the push, exit 5)'
complete -c layerget -n "__fish_layerget_using_subcommand push" -l plain-http -d 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
complete -c layerget -n "__fish_layerget_using_subcommand push" -l password-stdin -d 'Read the password (or token) for --username from stdin'
complete -c layerget -n "__fish_layerget_using_subcommand push" -l insecure -d 'Accept any TLS certificate, unverified (implies https, loopback included)'
complete -c layerget -n "__fish_layerget_using_subcommand push" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand push" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand push" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand push" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand push" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l chunk-size -d 'Blobs of at least this size are sent in chunks of it (see `push --chunk-size`)' -r
complete -c layerget -n "__fish_layerget_using_subcommand copy" -s j -l jobs -d 'Move up to N blobs at once' -r
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l username -d 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF\'s' -r
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l registry-auth -d 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF\'s registry]' -r
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l ca-file -d 'Trust the CA certificates in this PEM file (implies https, loopback included)' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l stall-timeout -d 'Give up on a connection that sends nothing for this many seconds [default: 30]' -r
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l retries -d 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]' -r
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l max-wait -d 'Longest wait a registry\'s Retry-After may impose, in seconds [default: 120]' -r
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l mirror -d 'Try this mirror (http(s)://HOST[:PORT][/PREFIX]) before the registry for blobs and manifests by digest; give it again for more, tried in order. It gets the credentials of its own host, never the registry\'s [default: the registry\'s `mirrors` in config.toml]' -r
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l all-platforms -d 'From a multi-platform image, copy every platform and the index itself [default: this host\'s platform only]'
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l plain-http -d 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l password-stdin -d 'Read the password (or token) for --username from stdin'
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l insecure -d 'Accept any TLS certificate, unverified (implies https, loopback included)'
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l mirror-only -d 'Never fall back to the registry for blobs and manifests by digest (tags are still resolved there unless --mirror-tags)'
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l mirror-tags -d 'Resolve tags at the mirrors too, before the registry (a mirror\'s tag may be stale)'
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand copy" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand copy" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand copy" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand copy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l match -d 'Only the references whose full name matches GLOB (`*` any characters, `?` one)' -r
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l chunk-size -d 'Blobs of at least this size are sent in chunks of it (see `push --chunk-size`)' -r
complete -c layerget -n "__fish_layerget_using_subcommand sync" -s j -l jobs -d 'Send up to N blobs at once' -r
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l username -d 'User name for registry logins (the password comes from --password-stdin or LAYERGET_PASSWORD; without these, docker and podman credentials are used). Used for one registry only: --registry-auth, else the first REF\'s' -r
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l registry-auth -d 'The registry (HOST or HOST:PORT) that --username or LAYERGET_USERNAME credentials are for [env: LAYERGET_REGISTRY_AUTH] [default: the first REF\'s registry]' -r
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l ca-file -d 'Trust the CA certificates in this PEM file (implies https, loopback included)' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l stall-timeout -d 'Give up on a connection that sends nothing for this many seconds [default: 30]' -r
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l retries -d 'Retries after a failed attempt (connection errors, 5xx, 429); each one resumes [default: 5]' -r
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l max-wait -d 'Longest wait a registry\'s Retry-After may impose, in seconds [default: 120]' -r
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l verify-cached -d 'Re-hash cached blobs before sending anything'
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l plain-http -d 'Talk plain HTTP to every registry (loopback registries use HTTP already)'
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l password-stdin -d 'Read the password (or token) for --username from stdin'
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l insecure -d 'Accept any TLS certificate, unverified (implies https, loopback included)'
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand sync" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand sync" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand sync" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand sync" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -f -a "ls" -d 'List the references in the cache (index.json), or with --blobs every blob'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -f -a "du" -d 'Show the cache\'s size: blobs, partial downloads, quarantine'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -f -a "verify" -d 'Re-hash blobs (all by default); bad ones are moved to quarantine/ (exit 5)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -f -a "gc" -d 'Remove blobs no reference needs, stale partial downloads and the quarantine'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -f -a "prune" -d 'Evict least-recently-used images and blobs until the cache fits in SIZE'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -f -a "rm" -d 'Remove a reference (and the blobs only it used) or a blob'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -f -a "path" -d 'Print the path of a cached blob'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and not __fish_seen_subcommand_from ls du verify gc prune rm path help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from ls" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from ls" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from ls" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from ls" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from ls" -l blobs -d 'List every blob with its size and last use instead of the references'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from ls" -l bytes -d 'With --blobs: sizes in bytes rather than KiB, MiB, GiB'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from ls" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from ls" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from ls" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from ls" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from du" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from du" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from du" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from du" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from du" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from du" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from du" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from du" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from du" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from verify" -s j -l jobs -d 'Hash up to N blobs at once [default: the number of CPUs]' -r
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from verify" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from verify" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from verify" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from verify" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from verify" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from verify" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from verify" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from verify" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from gc" -l ingest-age -d 'Remove partial downloads untouched for this long: seconds, or with s, m, h or d. On an s3:// cache also the grace period of unreachable blobs: only older objects are removed' -r
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from gc" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from gc" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from gc" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from gc" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from gc" -l dry-run -d 'Show what would be removed; remove nothing'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from gc" -l loose -d 'Also remove blobs that no manifest in the cache names (fetched by digest alone)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from gc" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from gc" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from gc" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from gc" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from gc" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from prune" -l max-size -d 'Largest size of blobs/ to keep: bytes, or with a K, M, G or T suffix (powers of 1024)' -r
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from prune" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from prune" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from prune" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from prune" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from prune" -l dry-run -d 'Show what would be evicted; remove nothing'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from prune" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from prune" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from prune" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from prune" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from rm" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from rm" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from rm" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from rm" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from rm" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from rm" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from rm" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from rm" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from path" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from path" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from path" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from path" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from path" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from path" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from path" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from path" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from path" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List the references in the cache (index.json), or with --blobs every blob'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "du" -d 'Show the cache\'s size: blobs, partial downloads, quarantine'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Re-hash blobs (all by default); bad ones are moved to quarantine/ (exit 5)'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "gc" -d 'Remove blobs no reference needs, stale partial downloads and the quarantine'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Evict least-recently-used images and blobs until the cache fits in SIZE'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove a reference (and the blobs only it used) or a blob'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "path" -d 'Print the path of a cached blob'
complete -c layerget -n "__fish_layerget_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c layerget -n "__fish_layerget_using_subcommand completions" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand completions" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand completions" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand completions" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand completions" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand completions" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand completions" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand completions" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand generate" -l cache-dir -d 'Cache directory, or an S3 bucket as s3://BUCKET/PREFIX (credentials and region from the AWS environment variables) [env: LAYERGET_CACHE_DIR] [default: the user cache dir, e.g. ~/.cache/layerget]' -r -F
complete -c layerget -n "__fish_layerget_using_subcommand generate" -l s3-endpoint -d 'The S3 endpoint of an s3:// cache, e.g. http://127.0.0.1:3900 [env: LAYERGET_S3_ENDPOINT, AWS_ENDPOINT_URL] [default: AWS]' -r
complete -c layerget -n "__fish_layerget_using_subcommand generate" -l color -d 'Colour in log output: auto (only when stderr is a terminal and NO_COLOR is unset), always, never' -r -f -a "auto\t'When stderr is a terminal and `NO_COLOR` is unset'
always\t'Always (e.g. for a pager that understands ANSI)'
never\t'Never'"
complete -c layerget -n "__fish_layerget_using_subcommand generate" -l progress -d 'Progress display: bars on a terminal, periodic lines (for CI logs), JSON events, or none' -r -f -a "auto\t'Bars when stderr is a terminal, nothing otherwise'
bar\t'Always bars (drawn only on a terminal)'
plain\t'A line every few seconds per active blob'
json\t'One JSON event per line on stderr (start, progress, retry, done, error, message)'
none\t'Nothing'"
complete -c layerget -n "__fish_layerget_using_subcommand generate" -l s3-path-style -d 'Path-style S3 requests (ENDPOINT/BUCKET/KEY), as most S3-compatible servers want, rather than virtual-hosted style (BUCKET.ENDPOINT/KEY) [env: LAYERGET_S3_PATH_STYLE=1]'
complete -c layerget -n "__fish_layerget_using_subcommand generate" -l json -d 'Print results as JSON on stdout, one object per line'
complete -c layerget -n "__fish_layerget_using_subcommand generate" -s q -l quiet -d 'No progress and no informational messages on stderr (errors are still shown)'
complete -c layerget -n "__fish_layerget_using_subcommand generate" -s v -l verbose -d 'More log output on stderr (-v, -vv)'
complete -c layerget -n "__fish_layerget_using_subcommand generate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layerget -n "__fish_layerget_using_subcommand help; and not __fish_seen_subcommand_from fetch head serve pull push copy sync cache completions generate help" -f -a "fetch" -d 'Download blobs by digest into the cache, verified, and print their cache paths'
complete -c layerget -n "__fish_layerget_using_subcommand help; and not __fish_seen_subcommand_from fetch head serve pull push copy sync cache completions generate help" -f -a "head" -d 'Ask a registry about a blob without downloading it'
complete -c layerget -n "__fish_layerget_using_subcommand help; and not __fish_seen_subcommand_from fetch head serve pull push copy sync cache completions generate help" -f -a "serve" -d 'Serve the cache as a registry (OCI Distribution API: pulls; pushes with --allow-push)'
complete -c layerget -n "__fish_layerget_using_subcommand help; and not __fish_seen_subcommand_from fetch head serve pull push copy sync cache completions generate help" -f -a "pull" -d 'Pull whole images (manifests, configs, layers) into the cache and record their references'
complete -c layerget -n "__fish_layerget_using_subcommand help; and not __fish_seen_subcommand_from fetch head serve pull push copy sync cache completions generate help" -f -a "push" -d 'Push an image recorded in the cache (or one cached blob) to a registry'
complete -c layerget -n "__fish_layerget_using_subcommand help; and not __fish_seen_subcommand_from fetch head serve pull push copy sync cache completions generate help" -f -a "copy" -d 'Copy an image from one registry to another, through the cache'
complete -c layerget -n "__fish_layerget_using_subcommand help; and not __fish_seen_subcommand_from fetch head serve pull push copy sync cache completions generate help" -f -a "sync" -d 'Push every reference recorded in the cache under one destination prefix'
complete -c layerget -n "__fish_layerget_using_subcommand help; and not __fish_seen_subcommand_from fetch head serve pull push copy sync cache completions generate help" -f -a "cache" -d 'Inspect and look after the cache: ls, du, verify, gc, prune, rm, path'
complete -c layerget -n "__fish_layerget_using_subcommand help; and not __fish_seen_subcommand_from fetch head serve pull push copy sync cache completions generate help" -f -a "completions" -d 'Print shell completions for SHELL on stdout (e.g. `layerget completions bash > ~/.local/share/bash-completion/completions/layerget`)'
complete -c layerget -n "__fish_layerget_using_subcommand help; and not __fish_seen_subcommand_from fetch head serve pull push copy sync cache completions generate help" -f -a "generate" -d 'Write completions/ (every supported shell) and man/ (man pages) into DIR'
complete -c layerget -n "__fish_layerget_using_subcommand help; and not __fish_seen_subcommand_from fetch head serve pull push copy sync cache completions generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c layerget -n "__fish_layerget_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "ls" -d 'List the references in the cache (index.json), or with --blobs every blob'
complete -c layerget -n "__fish_layerget_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "du" -d 'Show the cache\'s size: blobs, partial downloads, quarantine'
complete -c layerget -n "__fish_layerget_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "verify" -d 'Re-hash blobs (all by default); bad ones are moved to quarantine/ (exit 5)'
complete -c layerget -n "__fish_layerget_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "gc" -d 'Remove blobs no reference needs, stale partial downloads and the quarantine'
complete -c layerget -n "__fish_layerget_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "prune" -d 'Evict least-recently-used images and blobs until the cache fits in SIZE'
complete -c layerget -n "__fish_layerget_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "rm" -d 'Remove a reference (and the blobs only it used) or a blob'
complete -c layerget -n "__fish_layerget_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "path" -d 'Print the path of a cached blob'
