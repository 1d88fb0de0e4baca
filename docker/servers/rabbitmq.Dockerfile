# RabbitMQ from Debian's rabbitmq-server and Erlang packages, nothing pulled: FROM the root
# filesystem docker/build-images.sh assembles from this host's installed packages (and the
# shared libraries they link), with bash and coreutils for the package's scripts.
ARG BASE=rideshare-rabbitmq-base:latest
FROM ${BASE}
COPY rabbitmq-entry.sh /usr/local/bin/rideshare-rabbitmq
COPY healthcheck.sh /usr/local/bin/healthcheck
ENV HOME=/var/lib/rabbitmq RABBITMQ_NODENAME=rideshare@localhost
USER 1000:1000
HEALTHCHECK --interval=2s --timeout=6s --start-period=60s --retries=3 CMD ["/usr/local/bin/healthcheck", "rabbitmq"]
ENTRYPOINT ["/usr/local/bin/rideshare-rabbitmq"]
