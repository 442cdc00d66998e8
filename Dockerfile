# devarch as a container image, built without a registry.
#
# The binary is built outside the image (`cargo build --release`) and the base image is made
# locally (`scripts/engines.sh images` builds devarch-fixture/debian:12 with debootstrap), so
# no registry is contacted:
#
#   cargo build --release --locked
#   docker build --build-arg BASE=devarch-fixture/debian:12 -t devarch:dev .
#   docker run --rm -v "$PWD/examples/django-postgres:/manifests:ro" devarch:dev validate
ARG BASE=devarch-fixture/debian:12
FROM ${BASE}
COPY target/release/devarch /usr/local/bin/devarch
ENV DEVARCH_DIR=/manifests DEVARCH_HOME=/var/lib/devarch
VOLUME ["/var/lib/devarch"]
ENTRYPOINT ["/usr/local/bin/devarch"]
CMD ["validate"]
