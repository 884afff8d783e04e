#!/usr/bin/env bash
# Build every container image chronous needs from local material only
# (Debian package mirror + files in this repository; no container registry).
#
#   images/build.sh            build what is missing or out of date
#   images/build.sh --print    list the image names it would build (no work)
#   images/build.sh --force    rebuild everything (ignores the inputs-hash label)
#
# Images (in build order):
#   chronous/debian-base:bookworm     debootstrap minbase rootfs, `docker import`ed
#   chronous/mariadb:10.11            FROM base: mariadbd + mariabackup + entrypoint
#   chronous-payments-web-api:1.0     FROM base: fixtures/payments-app/app.py
#   chronous/registry:2               FROM base: Debian's docker-registry (the CNCF
#                                     distribution registry) with htpasswd auth,
#                                     for the tests of `deploy --image` on AWS
#   chronous/netfilter:bookworm       FROM base: Debian's iptables, which the simulator
#                                     runs in a database's or task's network namespace
#                                     to enforce the environment's security groups
#
# Images brought here some other way (`docker load`, a registry of your own):
# the simulator needs chronous/debian-base, chronous/mariadb and
# chronous/netfilter under these names (plus the app's image); without
# chronous/netfilter apply fails, saying it cannot enforce the security groups.
#
# Every image carries the label chronous.inputs-hash=<sha256 of its inputs>
# (derived images include their parent's hash), so a rerun with nothing
# changed only runs `docker image inspect` once per image.
#
# Environment:
#   CHRONOUS_CACHE   cache dir for .debs and the rootfs (default ~/.cache/chronous)
#   CHRONOUS_MIRROR  Debian mirror (default: first URIs: line of
#                    /etc/apt/sources.list.d/debian.sources, else deb.debian.org)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

BASE_IMAGE=chronous/debian-base:bookworm
MARIADB_IMAGE=chronous/mariadb:10.11
APP_IMAGE=chronous-payments-web-api:1.0
REGISTRY_IMAGE=chronous/registry:2
NETFILTER_IMAGE=chronous/netfilter:bookworm
ALL_IMAGES=("$BASE_IMAGE" "$MARIADB_IMAGE" "$APP_IMAGE" "$REGISTRY_IMAGE" "$NETFILTER_IMAGE")

SUITE=bookworm
VARIANT=minbase
INCLUDE=mariadb-server,mariadb-backup,python3,python3-pymysql,ca-certificates,procps

# The legacy builder: this engine (20.10) has no buildx plugin on the client.
export DOCKER_BUILDKIT=0

# One build at a time on this machine (tests started in parallel each make
# sure the images exist; the second waits, then finds them built).
LOCK_DIR="${XDG_RUNTIME_DIR:-/tmp}"
exec 9>"$LOCK_DIR/chronous-images-$(id -u).lock"
flock 9

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[build] error: %s\n' "$*" >&2; exit 1; }

FORCE=0
for arg in "$@"; do
    case "$arg" in
        --print) printf '%s\n' "${ALL_IMAGES[@]}"; exit 0 ;;
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $arg (try --help)" ;;
    esac
done

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine"

CACHE=${CHRONOUS_CACHE:-$HOME/.cache/chronous}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)   # debootstrap wants an absolute --cache-dir

mirror() {
    if [[ -n ${CHRONOUS_MIRROR:-} ]]; then echo "$CHRONOUS_MIRROR"; return; fi
    local m=""
    if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
        m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

sha256_stdin() { sha256sum | cut -d' ' -f1; }

# Current inputs-hash label of an image, empty if the image does not exist.
image_hash() {
    docker image inspect --format '{{ index .Config.Labels "chronous.inputs-hash" }}' "$1" 2>/dev/null || true
}

up_to_date() { # name hash
    [[ $FORCE == 0 && "$(image_hash "$1")" == "$2" ]]
}

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# After NAME was re-tagged, drop the image it replaced (and its now untagged
# intermediate layers); keep it if a container or another tag still uses it.
drop_replaced() { # name old_id
    if [[ -n $2 && $2 != "$(image_id "$1")" ]]; then
        docker image rm "$2" >/dev/null 2>&1 && log "$1: removed the image it replaced (${2:7:12})" || true
    fi
}

# Everything that shapes the rootfs apart from the mirror's contents.
rootfs_cleanup() {
    local root=$1
    # The Debian package initialises /var/lib/mysql in postinst. Leave it empty:
    # a fresh named volume mounted there would otherwise be pre-filled by Docker
    # with a datadir that has no password, and a restored datadir must not mix
    # with it. The entrypoint runs mariadb-install-db when it finds no datadir.
    rm -rf "${root:?}/var/lib/mysql" && mkdir -p "$root/var/lib/mysql" "$root/run/mysqld"
    chroot "$root" chown mysql:mysql /var/lib/mysql /run/mysqld
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
           "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
           "$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/var/log/apt/* \
           "$root"/var/cache/debconf/*-old "$root"/tmp/* "$root"/root/.cache
    find "$root/usr/lib/python3" -name __pycache__ -prune -exec rm -rf {} + 2>/dev/null || true
    : > "$root/etc/hostname"
    : > "$root/etc/resolv.conf"
    # No daemon may be started inside the image at package-install time later on.
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
}

build_base() {
    local hash name=$BASE_IMAGE
    hash=$( { echo "suite=$SUITE variant=$VARIANT include=$INCLUDE"; declare -f rootfs_cleanup; } | sha256_stdin)
    if up_to_date "$name" "$hash"; then
        log "$name up to date (inputs-hash ${hash:0:12})"
        BASE_HASH=$hash; return
    fi
    # The cached rootfs is keyed on the debootstrap parameters only; the cleanup
    # (idempotent) runs again before every import.
    local root="$CACHE/rootfs/$SUITE-$(echo "$SUITE $VARIANT $INCLUDE" | sha256_stdin | cut -c1-16)"
    if [[ -f $root/.chronous-complete ]]; then
        log "$name: reusing cached rootfs $root"
    else
        command -v debootstrap >/dev/null || {
            log "installing debootstrap"
            apt-get install -y debootstrap >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y debootstrap >/dev/null; }
        }
        local mirror_url tmp=$root.tmp t0=$SECONDS
        mirror_url=$(mirror)
        log "$name: debootstrap $SUITE ($VARIANT + $INCLUDE) from $mirror_url"
        cleanup_tmp_rootfs() { # debootstrap leaves /proc and /sys mounted when it fails
            local m
            for m in $(awk -v r="$tmp/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" || true; done
            rm -rf "$tmp"
        }
        trap cleanup_tmp_rootfs EXIT
        cleanup_tmp_rootfs
        mkdir -p "$CACHE/debs" "$(dirname "$root")"
        if ! debootstrap --variant="$VARIANT" --include="$INCLUDE" --cache-dir="$CACHE/debs" \
                "$SUITE" "$tmp" "$mirror_url" > "$CACHE/debootstrap.log" 2>&1; then
            tail -n 30 "$CACHE/debootstrap.log" >&2
            die "debootstrap failed (full log: $CACHE/debootstrap.log)"
        fi
        touch "$tmp/.chronous-complete"
        rm -rf "$root"; mv "$tmp" "$root"
        trap - EXIT
        # Older rootfs builds are dead weight once a new one exists.
        find "$CACHE/rootfs" -mindepth 1 -maxdepth 1 -type d ! -path "$root" -exec rm -rf {} +
        log "$name: rootfs ready in $((SECONDS - t0)) s ($(du -sh "$root" | cut -f1) before cleanup)"
    fi
    rootfs_cleanup "$root"
    local mariadb_version t0=$SECONDS
    mariadb_version=$(chroot "$root" dpkg-query -W -f='${Version}' mariadb-server)
    log "$name: importing rootfs (mariadb-server $mariadb_version)"
    local old_id; old_id=$(image_id "$name")
    tar -C "$root" --numeric-owner --exclude=./.chronous-complete -c . | docker import \
        --change "LABEL chronous.inputs-hash=$hash" \
        --change "LABEL chronous.image=debian-base" \
        --change "LABEL chronous.debian-suite=$SUITE" \
        --change "LABEL chronous.mariadb-package-version=$mariadb_version" \
        --change "ENV LANG=C.UTF-8" \
        --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change 'CMD ["/bin/bash"]' \
        - "$name" >/dev/null
    log "$name: imported in $((SECONDS - t0)) s"
    drop_replaced "$name" "$old_id"
    BASE_HASH=$hash
}

# build_derived NAME DOCKERFILE CONTEXT_DIR
build_derived() {
    local name=$1 dockerfile=$2 context=$3 hash
    hash=$( {
        # The base's image ID too: `docker import` is not reproducible, so a
        # re-imported base must rebuild its children (or they keep the old layers).
        echo "parent=$BASE_HASH $(image_id "$BASE_IMAGE")"
        echo "dockerfile"; cat "$dockerfile"
        (cd "$context" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z |
            xargs -0 -r stat -c '%a %n' && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 |
            sort -z | xargs -0 -r sha256sum)
    } | sha256_stdin)
    if up_to_date "$name" "$hash"; then
        log "$name up to date (inputs-hash ${hash:0:12})"; return
    fi
    local t0=$SECONDS old_id; old_id=$(image_id "$name")
    log "$name: docker build ($dockerfile)"
    if ! docker build --quiet --force-rm --label "chronous.inputs-hash=$hash" \
            -f "$dockerfile" -t "$name" "$context" >/dev/null 2>"$CACHE/build-stderr.log"; then
        cat "$CACHE/build-stderr.log" >&2
        die "docker build of $name failed"
    fi
    log "$name: built in $((SECONDS - t0)) s"
    drop_replaced "$name" "$old_id"
}

# The registry image's context: images/registry plus the docker-registry .deb
# from the Debian mirror (apt-get download: the host is Debian bookworm, like
# the base), staged in the cache so the .deb never lands in the repository.
build_registry() {
    local ctx="$CACHE/registry-context" deb
    mkdir -p "$CACHE/registry-debs"
    deb=$(ls "$CACHE"/registry-debs/docker-registry_*.deb 2>/dev/null | head -n1 || true)
    if [[ -z $deb ]]; then
        log "$REGISTRY_IMAGE: downloading the docker-registry package"
        (cd "$CACHE/registry-debs" && { apt-get download docker-registry >/dev/null 2>&1 \
            || { apt-get update >/dev/null && apt-get download docker-registry >/dev/null 2>&1; }; }) \
            || die "cannot download the Debian package docker-registry (apt-get download docker-registry)"
        deb=$(ls "$CACHE"/registry-debs/docker-registry_*.deb | head -n1)
    fi
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp "$SCRIPT_DIR"/registry/* "$ctx"/
    cp "$deb" "$ctx/docker-registry.deb"
    build_derived "$REGISTRY_IMAGE" "$ctx/Dockerfile" "$ctx"
}

# The netfilter image's context: images/netfilter plus iptables and the
# libraries it needs that the base lacks (apt-get download, like the registry's).
NETFILTER_DEBS=(iptables libip4tc2 libip6tc2 libnetfilter-conntrack3 libnfnetlink0 libnftnl11 netbase)
build_netfilter() {
    local ctx="$CACHE/netfilter-context" dir="$CACHE/netfilter-debs" p
    mkdir -p "$dir"
    for p in "${NETFILTER_DEBS[@]}"; do
        if ! ls "$dir/${p}"_*.deb >/dev/null 2>&1; then
            log "$NETFILTER_IMAGE: downloading the $p package"
            (cd "$dir" && { apt-get download "$p" >/dev/null 2>&1 \
                || { apt-get update >/dev/null && apt-get download "$p" >/dev/null 2>&1; }; }) \
                || die "cannot download the Debian package $p (apt-get download $p)"
        fi
    done
    rm -rf "$ctx" && mkdir -p "$ctx/debs"
    cp "$SCRIPT_DIR"/netfilter/Dockerfile "$ctx"/
    for p in "${NETFILTER_DEBS[@]}"; do cp "$dir/${p}"_*.deb "$ctx/debs/"; done
    build_derived "$NETFILTER_IMAGE" "$ctx/Dockerfile" "$ctx"
}

T0=$SECONDS
BASE_HASH=""
build_base
build_derived "$MARIADB_IMAGE" "$SCRIPT_DIR/mariadb/Dockerfile" "$SCRIPT_DIR/mariadb"
build_derived "$APP_IMAGE" "$SCRIPT_DIR/payments-web-api/Dockerfile" "$REPO_ROOT/fixtures/payments-app"
build_registry
build_netfilter
for img in "${ALL_IMAGES[@]}"; do
    log "$img $(docker image inspect --format '{{.Id}} {{.Size}}' "$img" | awk '{printf "%s %.0f MB", substr($1,8,12), $2/1e6}')"
done
log "done in $((SECONDS - T0)) s"
