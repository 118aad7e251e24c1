# scripts/lib/secrets.sh: the credentials of a local cluster, made once into DIR/secrets (mode 700, files 600).
# shellcheck shell=bash
#
# Sourced by scripts/cluster after common.sh. Nothing runs open: every Redis has its default
# user off and one ACL user per role, with only the commands and keys or channels that role
# needs (README, "Security"). Passwords are 32 random bytes as hex; programs read them from
# these files, never from argv.
#
#   secrets_make DIR      makes whatever is missing in DIR/secrets, and the ACL files
#   secret_file DIR NAME  the path of a password file (NAME: redis-admin, redis-gateway, ...)
#   zk_auth_file DIR ROLE the ZooKeeper auth file of ROLE (admin, autopilot, gateway)
#   tls_make DIR          the load balancer's TLS certificate, if missing: DIR/tls/lb.pem
#                         (certificate and key, mode 600, for HAProxy) and DIR/tls/ca.pem
#                         (the certificate alone: what clients trust)
#
# ZooKeeper: one digest identity per role (zk/zk_auth.h): admin for ringctl in people's
# hands, autopilot for 'ringctl autopilot', gateway for every gateway. Each role's auth
# file names its own USER:PASSWORD and the digest ids of all three, which every program
# needs for the ACLs of the znodes it creates.

SECRET_NAMES=(redis-admin redis-gateway redis-ringctl redis-exporter pg-owner pg-gateway
    zk-admin zk-autopilot zk-gateway)
ZK_ROLES=(admin autopilot gateway)

secret_file() { echo "$1/secrets/$2.password"; }
zk_auth_file() { echo "$1/secrets/zk-$2.auth"; }

# zk_digest USER PASSWORD: ZooKeeper's digest id, USER:base64(sha1(USER:PASSWORD)).
zk_digest() {
    local b64
    b64=$(printf '%s:%s' "$1" "$2" | openssl sha1 -binary | base64) ||
        die "cannot hash with openssl (install 'openssl', scripts/deps)"
    printf '%s:%s' "$1" "$b64"
}

secret_file() { echo "$1/secrets/$2.password"; }

# new_password FILE: 32 random bytes as 64 hex digits into FILE (mode 600), unless it exists.
new_password() {
    local file=$1 hex
    [[ -s $file ]] && return 0
    hex=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    [[ $hex =~ ^[0-9a-f]{64}$ ]] || die "could not read 32 random bytes from /dev/urandom"
    (umask 077 && printf '%s\n' "$hex" >"$file.tmp") && mv -f -- "$file.tmp" "$file" ||
        die "cannot write $file"
}

# acl_hash DIR NAME: the SHA-256 of a password, as Redis ACL files take it (#<hex>).
acl_hash() {
    local pw
    pw=$(<"$(secret_file "$1" "$2")")
    printf '#%s' "$(printf '%s' "$pw" | sha256sum | cut -d' ' -f1)"
}

# write_private FILE: stdin into FILE, mode 600, atomically.
write_private() {
    (umask 077 && cat >"$1.tmp") && mv -f -- "$1.tmp" "$1" || die "cannot write $1"
}

secrets_make() {
    local dir=$1 s name
    s=$dir/secrets
    (umask 077 && mkdir -p "$s") || die "cannot make $s"
    chmod 700 "$s"
    for name in "${SECRET_NAMES[@]}"; do
        new_password "$(secret_file "$dir" "$name")"
    done
    # ZooKeeper: the user of each role is its name ("nearby-" prefixed).
    local role roles_text='' pw
    for role in "${ZK_ROLES[@]}"; do
        pw=$(<"$(secret_file "$dir" "zk-$role")")
        roles_text+="role $role $(zk_digest "nearby-$role" "$pw")"$'\n'
    done
    for role in "${ZK_ROLES[@]}"; do
        pw=$(<"$(secret_file "$dir" "zk-$role")")
        printf '# ZooKeeper identity of the %s role (zk/zk_auth.h)\nauth nearby-%s:%s\n%s' \
            "$role" "$role" "$pw" "$roles_text" | write_private "$(zk_auth_file "$dir" "$role")"
    done
    # The pub/sub nodes: gateways publish and subscribe on user, cell and heartbeat
    # channels and touch no key; ringctl asks who subscribes where (remove, autopilot).
    write_private "$s/redis-nodes.acl" <<EOF
user default off
user admin on $(acl_hash "$dir" redis-admin) ~* &* +@all
user gateway on $(acl_hash "$dir" redis-gateway) resetchannels &u:* &g:* &hb:* -@all +publish +subscribe +unsubscribe +ping
user ringctl on $(acl_hash "$dir" redis-ringctl) resetchannels -@all +pubsub +info +ping
user exporter on $(acl_hash "$dir" redis-exporter) resetchannels -@all +info +ping +config|get +client|list +slowlog +latency +dbsize +select +memory|stats
EOF
    # The location cache: gateways read and write loc:<id> and nothing else.
    write_private "$s/redis-cache.acl" <<EOF
user default off
user admin on $(acl_hash "$dir" redis-admin) ~* &* +@all
user gateway on $(acl_hash "$dir" redis-gateway) resetchannels ~loc:* -@all +set +get +mget +del +ping
user exporter on $(acl_hash "$dir" redis-exporter) resetchannels -@all +info +ping +config|get +client|list +slowlog +latency +dbsize +select +memory|stats
EOF
}

# tls_make DIR: a self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost, valid
# 825 days, made once. It is its own CA: clients trust DIR/tls/ca.pem (curl --cacert,
# nearby-loadgen --ca-file, Node's ca option); a browser shows a warning once.
tls_make() {
    local t=$1/tls
    [[ -s $t/lb.pem && -s $t/ca.pem ]] && return 0
    need_cmd openssl "install 'openssl' (scripts/deps)"
    (umask 077 && mkdir -p "$t") || die "cannot make $t"
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$t/lb.key.tmp" -out "$t/ca.pem.tmp" -days 825 -subj "/CN=nearby local cluster" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -addext "basicConstraints=critical,CA:TRUE" >/dev/null 2>&1) ||
        die "openssl could not make the TLS certificate in $t"
    (umask 077 && cat "$t/ca.pem.tmp" "$t/lb.key.tmp" >"$t/lb.pem.tmp") &&
        mv -f -- "$t/lb.pem.tmp" "$t/lb.pem" && mv -f -- "$t/ca.pem.tmp" "$t/ca.pem" &&
        rm -f -- "$t/lb.key.tmp" || die "cannot write $t/lb.pem"
    chmod 644 "$t/ca.pem"
}
