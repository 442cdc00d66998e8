# devarch as a container image: the `devarch watch` controller.
#
# Two ways to build it:
#
# * Default (`docker build .`): from source, on official images — a Rust builder, a slim Debian
#   runtime. Needs the Docker Hub registry. The commit `devarch --version` names comes from a
#   build argument, since the build context carries no .git:
#
#     docker build --build-arg DEVARCH_GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t devarch .
#
# * `--target offline`: what this repository's tests and CI build, without any registry. The
#   binary is built outside the image and the base image is made locally
#   (`scripts/engines.sh images` debootstraps devarch-fixture/debian:12 and imports it):
#
#     cargo build --release --locked
#     docker build --target offline -t devarch:dev .   # podman: podman build --pull=never ...
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
# The offline stage comes first, so a builder that runs stages in order up to --target never
# reaches the ones that pull from a registry.

# BASE: the offline stage's base image; BIN: the binary to copy, relative to the build
# context (tests/container.rs builds the image from a stripped debug build).
ARG BASE=devarch-fixture/debian:12

FROM ${BASE} AS offline
ARG BIN=target/release/devarch
COPY ${BIN} /usr/local/bin/devarch
ENV DEVARCH_DIR=/manifests DEVARCH_HOME=/var/lib/devarch DEVARCH_DIAGNOSTICS=plain
VOLUME ["/var/lib/devarch"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/devarch"]
CMD ["watch"]

FROM docker.io/library/rust:1.95-slim-trixie AS builder
WORKDIR /src
COPY . .
ARG DEVARCH_GIT_COMMIT=
RUN cargo build --release --locked --bin devarch \
 && install -m 0755 target/release/devarch /usr/local/bin/devarch

FROM docker.io/library/debian:trixie-slim AS default
COPY --from=builder /usr/local/bin/devarch /usr/local/bin/devarch
ENV DEVARCH_DIR=/manifests DEVARCH_HOME=/var/lib/devarch DEVARCH_DIAGNOSTICS=plain
VOLUME ["/var/lib/devarch"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/devarch"]
CMD ["watch"]
