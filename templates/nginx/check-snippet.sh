#!/bin/sh
# Usage: check-snippet.sh FILE
# `nginx -t` for an http-level snippet (what sidekick.conf.tmpl renders): FILE is included in a
# throwaway main config whose pid, log and temp paths live in a temp folder, so the check needs no
# running nginx and touches none of its files. nginx.toml runs it as check_cmd with FILE = the staged file.
# NGINX overrides the binary (default /usr/sbin/nginx).
set -eu
snippet=${1:?usage: check-snippet.sh FILE}
nginx=${NGINX:-/usr/sbin/nginx}
dir=$(mktemp -d "${TMPDIR:-/tmp}/sidekick-nginx-check.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cat > "$dir/nginx.conf" <<CONF
pid $dir/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include "$snippet";
}
CONF
"$nginx" -t -q -e stderr -p "$dir/" -c "$dir/nginx.conf"
