#!/usr/bin/env bash
# Writes the secrets docker-compose.yml needs into .env next to it (mode 0600), once: RabbitMQ's
# password (RABBITMQ_PASSWORD; user and vhost default to rideshare) and the cluster's ZooKeeper
# digest credentials (ZK_AUTH=rideshare:<password>), and the bearer tokens of the two roles
# (SERVICE_TOKEN for the users and rides services, ADMIN_TOKEN for operators). Values already in .env are kept, so running
# it again changes nothing; a RabbitMQ database made before keeps the user it was made with
# (docs/docker.md says how to start it afresh).
#
#   bash docker/compose-secrets.sh [ENV_FILE]      # default: .env in the project root
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
file=${1:-$root/.env}
umask 077
touch "$file"
chmod 600 "$file"

# 32 random bytes, base64url: letters, digits, - and _ only, so it goes into AMQP_URL as it is.
secret() { head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }
has() { grep -q "^$1=" "$file"; }

added=()
if ! has RABBITMQ_PASSWORD; then echo "RABBITMQ_PASSWORD=$(secret)" >> "$file"; added+=(RABBITMQ_PASSWORD); fi
if ! has ZK_AUTH; then echo "ZK_AUTH=rideshare:$(secret)" >> "$file"; added+=(ZK_AUTH); fi
for token in SERVICE_TOKEN ADMIN_TOKEN; do
  if ! has "$token"; then echo "$token=$(secret)" >> "$file"; added+=("$token"); fi
done
if ((${#added[@]})); then echo "added ${added[*]} to $file"; else echo "$file already holds the secrets; nothing changed"; fi
