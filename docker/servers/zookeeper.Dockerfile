# ZooKeeper from Debian's zookeeper and OpenJDK 17 (headless) packages, nothing pulled: FROM the
# root filesystem docker/build-images.sh assembles from this host's installed packages (the jars
# zookeeper.jar's manifest names, and the shared libraries the JVM links), with bash.
ARG BASE=rideshare-zookeeper-base:latest
FROM ${BASE}
COPY zookeeper-entry.sh /usr/local/bin/rideshare-zookeeper
COPY healthcheck.sh /usr/local/bin/healthcheck
USER 1000:1000
HEALTHCHECK --interval=2s --timeout=6s --start-period=30s --retries=3 CMD ["/usr/local/bin/healthcheck", "zookeeper"]
ENTRYPOINT ["/usr/local/bin/rideshare-zookeeper"]
