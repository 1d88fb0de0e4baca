#!/bin/bash
# The RideShare RabbitMQ image's entry point (docker/servers/rabbitmq.Dockerfile): one node from
# Debian's rabbitmq-server with a user, password and vhost of its own and no guest, listening on
# 127.0.0.1 only (AMQP, the Erlang distribution port and epmd). The password is read from a file
# (RABBITMQ_PASSWORD_FILE, compose's secret), never from the environment; the configuration that
# holds it is written inside the container (0600), not to the data volume.
set -euo pipefail

password_file=${RABBITMQ_PASSWORD_FILE:-/run/secrets/rabbitmq_password}
user=${RABBITMQ_USER:-rideshare}
vhost=${RABBITMQ_VHOST:-rideshare}
port=${RABBITMQ_PORT:-5672}
say() { printf 'rabbitmq: %s\n' "$*"; }

if [[ ! -r $password_file ]]; then
  say "cannot read the password file $password_file (RABBITMQ_PASSWORD_FILE); run bash docker/compose-secrets.sh" >&2
  exit 2
fi
password=$(<"$password_file")
if [[ ! $password =~ ^[A-Za-z0-9_-]{16,}$ ]]; then
  say "the password in $password_file must be 16 or more letters, digits, - or _ (it goes into AMQP_URL as it is)" >&2
  exit 2
fi

umask 077
data=/var/lib/rabbitmq
mkdir -p "$data/mnesia" "$data/log" /tmp/rabbitmq
# RabbitMQ makes its default user only with its database: a database made with other
# credentials (an earlier password) is removed so that it is made again with these. Its queues
# only ever hold requests in flight.
marker=$data/database-credentials
fingerprint=$(printf '%s\0%s\0%s' "$user" "$vhost" "$password" | sha256sum | cut -d' ' -f1)
if [[ -n $(ls -A "$data/mnesia") && $(cat "$marker" 2>/dev/null || true) != "$fingerprint" ]]; then
  say "the database in $data/mnesia was made with other credentials; removing it so the node makes it again with user $user"
  rm -rf "${data:?}/mnesia/"*
fi
printf '%s\n' "$fingerprint" > "$marker"

cat > /tmp/rabbitmq/rabbitmq.conf <<CONF
listeners.tcp.1 = 127.0.0.1:$port
default_vhost = $vhost
default_user = $user
default_pass = $password
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
loopback_users = none
log.console = true
log.console.level = warning
log.file = false
disk_free_limit.absolute = 50MB
CONF
printf '[].\n' > /tmp/rabbitmq/enabled_plugins
: > /tmp/rabbitmq/rabbitmq-env.conf

export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$port
export RABBITMQ_DIST_PORT=${RABBITMQ_DIST_PORT:-$((port + 20000))}
export ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=${RABBITMQ_EPMD_PORT:-4369}
export RABBITMQ_MNESIA_BASE=$data/mnesia RABBITMQ_LOG_BASE=$data/log
export RABBITMQ_CONFIG_FILE=/tmp/rabbitmq/rabbitmq.conf RABBITMQ_ENABLED_PLUGINS_FILE=/tmp/rabbitmq/enabled_plugins
export RABBITMQ_CONF_ENV_FILE=/tmp/rabbitmq/rabbitmq-env.conf RABBITMQ_ADVANCED_CONFIG_FILE=/tmp/rabbitmq/advanced.config
export RABBITMQ_PID_FILE=/tmp/rabbitmq/rabbit.pid
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
unset RABBITMQ_PASSWORD_FILE password
say "starting node $RABBITMQ_NODENAME on 127.0.0.1:$port (user $user, vhost $vhost; distribution $RABBITMQ_DIST_PORT, epmd $ERL_EPMD_PORT); healthy once AMQP answers"
exec /usr/lib/rabbitmq/bin/rabbitmq-server
