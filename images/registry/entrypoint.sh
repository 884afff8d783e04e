#!/bin/sh
# The one user allowed to push and pull: REGISTRY_USER / REGISTRY_PASSWORD
# (bcrypt in an htpasswd file, the only hash the registry accepts).
set -eu
: "${REGISTRY_USER:?set REGISTRY_USER}"
: "${REGISTRY_PASSWORD:?set REGISTRY_PASSWORD}"
python3 -W ignore -c '
import crypt, os
h = crypt.crypt(os.environ["REGISTRY_PASSWORD"], crypt.mksalt(crypt.METHOD_BLOWFISH))
open("/etc/docker/registry/htpasswd", "w").write(os.environ["REGISTRY_USER"] + ":" + h + "\n")
'
unset REGISTRY_PASSWORD
exec /usr/bin/docker-registry serve /etc/docker/registry/config.yml
