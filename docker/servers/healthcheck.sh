#!/bin/bash
# The server images' health check, in plain bash (no client tools needed):
#   healthcheck.sh rabbitmq   AMQP on 127.0.0.1:RABBITMQ_PORT answers the protocol header (the
#                             listener opens only once the node has booted)
#   healthcheck.sh zookeeper  127.0.0.1:ZK_PORT answers ruok with imok
set -uo pipefail
case ${1:-} in
  rabbitmq)
    exec 3<>"/dev/tcp/127.0.0.1/${RABBITMQ_PORT:-5672}" || exit 1
    printf 'AMQP\x00\x00\x09\x01' >&3
    # A Connection.Start frame begins with frame type 1.
    IFS= read -r -N 1 -t 5 first <&3 || exit 1
    [[ $first == $'\x01' ]] ;;
  zookeeper)
    exec 3<>"/dev/tcp/127.0.0.1/${ZK_PORT:-2181}" || exit 1
    printf 'ruok' >&3
    IFS= read -r -N 4 -t 5 answer <&3 || exit 1
    [[ $answer == imok ]] ;;
  *) echo "usage: healthcheck.sh rabbitmq|zookeeper" >&2; exit 2 ;;
esac
