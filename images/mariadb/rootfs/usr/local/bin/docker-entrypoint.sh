#!/bin/bash
# Entrypoint of chronous/mariadb:10.11.
#
# Server mode (CMD `mariadbd`, or first argument starting with `-`, which is
# passed to mariadbd): starts mariadbd as PID 1 on /var/lib/mysql.
#   - empty datadir    -> mariadb-install-db, then credentials from the env below
#   - existing datadir -> (e.g. a restored, prepared backup) files not owned by
#                         `mysql` are chowned, credentials from the env below are
#                         applied idempotently (like RDS resetting the master user
#                         after a restore from S3)
#   - unprepared backup (checkpoints say backup_type = full-backuped) -> refuses
#
# Environment (all optional on an existing datadir; each also as NAME_FILE,
# read from that file instead):
#   MARIADB_ROOT_PASSWORD   password of root@'%' and root@localhost (localhost
#                           keeps unix_socket auth as an alternative). Required
#                           for a fresh datadir unless
#   MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1  (root then only via the unix socket)
#   MARIADB_USER / MARIADB_PASSWORD      master user '<user>'@'%', ALL PRIVILEGES
#                           ON *.* WITH GRANT OPTION (created or password reset)
#   MARIADB_DATABASE        CREATE DATABASE IF NOT EXISTS
#
# Any other command (mariabackup, bash, ...) is exec'd as is, so the same image
# serves as the helper for `mariabackup --prepare`.
set -euo pipefail

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

log() { printf '[entrypoint] %s\n' "$*" >&2; }
die() { printf '[entrypoint] error: %s\n' "$*" >&2; exit 1; }

# NAME or NAME_FILE -> value (empty if neither is set).
file_env() {
    local var=$1 file_var="${1}_FILE"
    if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then die "both $var and $file_var are set"; fi
    if [[ -n ${!file_var:-} ]]; then
        [[ -r ${!file_var} ]] || die "$file_var: cannot read ${!file_var}"
        printf '%s' "$(< "${!file_var}")"
    else
        printf '%s' "${!var:-}"
    fi
}

sql_string() { # '...' literal with \ and ' escaped
    local s=${1//\\/\\\\}
    s=${s//\'/\'\'}
    printf "'%s'" "$s"
}
sql_ident() { # `...` identifier
    printf '`%s`' "${1//\`/\`\`}"
}

if [[ ${1:-} == -* ]]; then set -- mariadbd "$@"; fi
if [[ ${1:-} != mariadbd && ${1:-} != mysqld ]]; then exec "$@"; fi
shift
set -- mariadbd "$@"

mkdir -p /run/mysqld
if [[ $(id -u) == 0 ]]; then
    chown mysql:mysql /run/mysqld
    set -- "$@" --user=mysql
fi

for f in "$DATADIR/mariadb_backup_checkpoints" "$DATADIR/xtrabackup_checkpoints"; do
    if [[ -f $f ]] && grep -q '^backup_type *= *full-backuped' "$f"; then
        die "$DATADIR holds a backup that was not prepared ($(basename "$f") says full-backuped): run 'mariabackup --prepare --target-dir=$DATADIR' first"
    fi
done

ROOT_PASSWORD=$(file_env MARIADB_ROOT_PASSWORD)
USER_NAME=$(file_env MARIADB_USER)
USER_PASSWORD=$(file_env MARIADB_PASSWORD)
DATABASE=$(file_env MARIADB_DATABASE)
[[ $USER_NAME != root ]] || die "MARIADB_USER=root: use MARIADB_ROOT_PASSWORD"
if [[ -n $USER_NAME && -z $USER_PASSWORD ]]; then die "MARIADB_USER is set but MARIADB_PASSWORD is not"; fi

if [[ ! -d $DATADIR/mysql ]]; then
    if [[ -z $ROOT_PASSWORD && ${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-} != 1 ]]; then
        die "fresh datadir: set MARIADB_ROOT_PASSWORD (or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1)"
    fi
    log "no database in $DATADIR: running mariadb-install-db"
    [[ $(id -u) != 0 ]] || chown mysql:mysql "$DATADIR"
    mariadb-install-db --user=mysql --datadir="$DATADIR" --auth-root-authentication-method=socket \
        --skip-test-db --skip-name-resolve --skip-log-bin >/dev/null
    log "datadir initialised"
elif [[ $(id -u) == 0 ]]; then
    n=$(find "$DATADIR" \( ! -user mysql -o ! -group mysql \) -print | wc -l)
    if [[ $n != 0 ]]; then
        log "chown mysql:mysql on $n entries in $DATADIR"
        find "$DATADIR" \( ! -user mysql -o ! -group mysql \) -exec chown -h mysql:mysql {} +
    fi
fi

init_sql=""
if [[ -n $ROOT_PASSWORD ]]; then
    pw=$(sql_string "$ROOT_PASSWORD")
    init_sql+="CREATE USER IF NOT EXISTS 'root'@'localhost';"$'\n'
    init_sql+="ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD($pw);"$'\n'
    init_sql+="GRANT ALL PRIVILEGES ON *.* TO 'root'@'localhost' WITH GRANT OPTION;"$'\n'
    init_sql+="CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY $pw;"$'\n'
    init_sql+="ALTER USER 'root'@'%' IDENTIFIED BY $pw;"$'\n'
    init_sql+="GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;"$'\n'
fi
if [[ -n $DATABASE ]]; then
    init_sql+="CREATE DATABASE IF NOT EXISTS $(sql_ident "$DATABASE");"$'\n'
fi
if [[ -n $USER_NAME ]]; then
    u="$(sql_string "$USER_NAME")@'%'" pw=$(sql_string "$USER_PASSWORD")
    init_sql+="CREATE USER IF NOT EXISTS $u IDENTIFIED BY $pw;"$'\n'
    init_sql+="ALTER USER $u IDENTIFIED BY $pw;"$'\n'
    init_sql+="GRANT ALL PRIVILEGES ON *.* TO $u WITH GRANT OPTION;"$'\n'
fi

if [[ -n $init_sql ]]; then
    # mariadbd runs --init-file before it accepts connections, so the accounts
    # exist by the time port 3306 answers. The file holds passwords: private
    # to mysql, and removed once the server answers a ping (mariadbd creates
    # its socket before it reads --init-file, so the socket alone is too early).
    init_file=/run/mysqld/chronous-init.sql
    (umask 077; printf '%s' "$init_sql" > "$init_file")
    [[ $(id -u) != 0 ]] || chown mysql:mysql "$init_file"
    set -- "$@" --init-file="$init_file"
    (
        for _ in $(seq 1 1200); do
            [[ -S $SOCKET ]] && mariadb-admin --socket="$SOCKET" --connect-timeout=2 ping >/dev/null 2>&1 && break
            sleep 0.25
        done
        rm -f "$init_file"
    ) &
    root_state=unchanged; [[ -z $ROOT_PASSWORD ]] || root_state=set
    log "credentials applied through --init-file (root password: $root_state, user: ${USER_NAME:-none}, database: ${DATABASE:-none})"
fi

log "starting $*"
exec "$@"
