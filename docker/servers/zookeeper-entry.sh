#!/bin/bash
# The RideShare ZooKeeper image's entry point (docker/servers/zookeeper.Dockerfile): one
# standalone server from Debian's zookeeper package, clients on 127.0.0.1:ZK_PORT only, no admin
# server (it would take the gateway's port 8080). The cluster's znodes carry its digest ACLs
# (ZK_AUTH, docs/security.md), so the server itself needs no credentials.
set -euo pipefail

port=${ZK_PORT:-2181}
mkdir -p /data /tmp/zookeeper
cat > /tmp/zookeeper/zoo.cfg <<CONF
tickTime=2000
dataDir=/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
maxSessionTimeout=60000
autopurge.snapRetainCount=3
autopurge.purgeInterval=24
CONF
printf 'zookeeper: starting on 127.0.0.1:%s, data in /data; healthy once it answers ruok\n' "$port"
# Debian ships no slf4j binding: the server itself logs nothing but JVM errors.
exec /usr/lib/jvm/java-17-openjdk-amd64/bin/java -Xmx256m -XX:+UseSerialGC -Dzookeeper.log.dir=/tmp/zookeeper \
  -cp /usr/share/java/zookeeper.jar org.apache.zookeeper.server.quorum.QuorumPeerMain /tmp/zookeeper/zoo.cfg
