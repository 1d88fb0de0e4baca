#!/usr/bin/env bash
# Prepares a host for docker-compose.yml, once; running it again changes nothing that exists:
#
#   bash docker/compose-secrets.sh [ENV_FILE]      # default: .env in the project root
#
# - the secrets, one file each in RIDESHARE_SECRETS (default .secrets/ beside docker-compose.yml;
#   folder 0700, files 0600, ignored by git): rabbitmq_password, amqp_url (the compose broker's
#   URL with that password), zk_auth (the cluster's ZooKeeper digest credentials), service_token,
#   admin_token, cluster_key, and local_amqp_url (docker-compose.local.yml's broker: AMQP_URL, or
#   the machine's guest on 5672). Compose mounts them under /run/secrets; none is in an image, an
#   environment variable or docker inspect.
# - ENV_FILE, no secrets in it: RIDESHARE_USER (the uid:gid every container runs as: yours, or
#   1000:1000 when run as root), DOCKER_GID (the group of the engine's socket, which the
#   orchestrator joins to start workers) and RIDESHARE_DATA_DIR (made, owned by RIDESHARE_USER, 0700).
# A .env of an earlier version that held the secrets has them moved into the files.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
file=${1:-$root/.env}
umask 077
touch "$file"
chmod 600 "$file"

setting() { sed -n "s/^$1=//p" "$file" | tail -n 1; }
has() { grep -q "^$1=" "$file"; }
keep() { has "$1" || echo "$1=$2" >> "$file"; }

if [[ $(id -u) == 0 ]]; then default_user=1000:1000; else default_user=$(id -u):$(id -g); fi
keep RIDESHARE_USER "$default_user"
keep DOCKER_GID "$(stat -c %g /var/run/docker.sock 2>/dev/null || echo 0)"
keep RIDESHARE_DATA_DIR "${RIDESHARE_DATA_DIR:-/var/lib/rideshare}"
owner=$(setting RIDESHARE_USER)
data_dir=$(setting RIDESHARE_DATA_DIR)
secrets=${RIDESHARE_SECRETS:-$(setting RIDESHARE_SECRETS)}
secrets=${secrets:-$root/.secrets}
[[ $secrets == /* ]] || secrets=$root/${secrets#./}
rabbitmq_port=${RABBITMQ_PORT:-$(setting RABBITMQ_PORT)}
rabbitmq_port=${rabbitmq_port:-5672}

# 32 random bytes, base64url: letters, digits, - and _ only, so it goes into AMQP_URL as it is.
random_secret() { head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }
mkdir -p "$secrets"
chmod 700 "$secrets"
added=()
# A secret file is made once: from an earlier version's .env entry if there is one, else at random.
secret_file() {
  local name=$1 value=$2
  [[ -s $secrets/$name ]] && return 0
  printf '%s' "$value" > "$secrets/$name"
  added+=("$name")
}
old() { local value; value=$(setting "$1"); echo "${value:-$2}"; }
secret_file rabbitmq_password "$(old RABBITMQ_PASSWORD "$(random_secret)")"
secret_file zk_auth "$(old ZK_AUTH "rideshare:$(random_secret)")"
secret_file service_token "$(old SERVICE_TOKEN "$(random_secret)")"
secret_file admin_token "$(old ADMIN_TOKEN "$(random_secret)")"
secret_file cluster_key "$(random_secret)"
secret_file local_amqp_url "${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672}"
# Derived, so rewritten each time (RABBITMQ_PORT may have changed).
printf 'amqp://%s:%s@127.0.0.1:%s/%s' "$(old RABBITMQ_USER rideshare)" "$(cat "$secrets/rabbitmq_password")" "$rabbitmq_port" "$(old RABBITMQ_VHOST rideshare)" > "$secrets/amqp_url"
# Secrets no longer belong in the environment file.
sed -i -E '/^(RABBITMQ_PASSWORD|ZK_AUTH|SERVICE_TOKEN|ADMIN_TOKEN)=/d' "$file"

mkdir -p "$data_dir/servers/rabbitmq" "$data_dir/servers/zookeeper"
chmod 700 "$data_dir"
if [[ $(id -u) == 0 ]]; then chown -R "$owner" "$secrets" "$data_dir"; fi

if ((${#added[@]})); then echo "made ${added[*]} in $secrets (0600)"; else echo "$secrets already holds the secrets; nothing changed"; fi
echo "$file: RIDESHARE_USER=$owner DOCKER_GID=$(setting DOCKER_GID) RIDESHARE_DATA_DIR=$data_dir (owned by $owner, 0700)"
