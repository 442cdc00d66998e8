# devarch as a container image: the `devarch watch` controller, built without a registry.
#
# The binary is built outside the image and the base image is made locally
# (`scripts/engines.sh images` debootstraps devarch-fixture/debian:12 and imports it), so no
# registry is contacted:
#
#   cargo build --release --locked
#   docker build -t devarch:dev .          # podman: podman build --pull=never -t devarch:dev .
#
# Run the controller with the engine's socket and the manifests folder mounted. Mount the
# folder and the home at the SAME paths as on the host: the engine resolves bind-mounted
# config files and relative host paths on the host, and the folder's absolute path is the
# stacks' owner (so `devarch` on the host and in the container manage the same stacks).
# --network host lets the host-port checks see the host's ports.
#
#   docker run -d --name devarch-controller --network host \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -v "$PWD/examples/offline:$PWD/examples/offline" -e DEVARCH_DIR="$PWD/examples/offline" \
#     -v "$HOME/.devarch:$HOME/.devarch" -e DEVARCH_HOME="$HOME/.devarch" \
#     devarch:dev
#
# (Podman: mount /run/podman/podman.sock at the same path instead of docker.sock.) Without
# DEVARCH_DIR the folder is /manifests; without DEVARCH_HOME the state is in /var/lib/devarch.
#
# BIN: the binary to copy, relative to the build context (tests/container.rs builds the image
# from a stripped debug build).
ARG BASE=devarch-fixture/debian:12
FROM ${BASE}
ARG BIN=target/release/devarch
COPY ${BIN} /usr/local/bin/devarch
ENV DEVARCH_DIR=/manifests DEVARCH_HOME=/var/lib/devarch DEVARCH_DIAGNOSTICS=plain
VOLUME ["/var/lib/devarch"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/devarch"]
CMD ["watch"]
