# fourcut in a container (README.rst, "Running in a container"):
#
#   docker build -t fourcut .
#   docker run -d --init -p 8080:8080 --device=/dev/bus/usb \
#       -v fourcut-photos:/app/photos fourcut
#
# or compose.yaml. BASE is any Debian bookworm image: Docker's
# bookworm-slim unless --build-arg BASE=... names another (the test's is
# made with mmdebstrap). Behind a proxy that re-signs TLS, hand pip the
# machine's CA bundle as a build secret, which no layer keeps:
#
#   docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt .
ARG BASE=debian:bookworm-slim

# fourcut and its dependencies, installed by pip into /opt/fourcut; pip
# builds the virtual camera's USB port library with gcc and libgphoto2's
# headers, and pycups (printing) against libcups' and Python's headers;
# the compilers and headers stay in this stage.
FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc libc6-dev libgphoto2-dev libcups2-dev python3 python3-dev \
        python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3 -m venv /opt/fourcut \
 && /opt/fourcut/bin/pip install --no-cache-dir --disable-pip-version-check \
        /src \
 && /opt/fourcut/bin/python -c \
        'from fourcut.virtualcam import usbport; usbport.library_path()'

# What runs: Debian's gphoto2 and libgphoto2, libcups (printing),
# libturbojpeg (live view's transforms), Python and the virtualenv,
# as the user fourcut (uid 1000) in plugdev, the group that owns a
# camera's USB device on Debian and Ubuntu hosts (docker run --device).
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gphoto2 libcups2 libturbojpeg0 python3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --user-group --groups plugdev --home-dir /app \
        --create-home --shell /usr/sbin/nologin fourcut \
 && install -d -o fourcut -g fourcut /app/photos
COPY --from=build /opt/fourcut /opt/fourcut
ENV PATH=/opt/fourcut/bin:$PATH
WORKDIR /app
USER fourcut
VOLUME /app/photos
EXPOSE 8080
# SIGINT, as the systemd unit: gphoto2 children end cleanly (an EOS whose
# live view is killed can keep its mirror up).
STOPSIGNAL SIGINT
# /health answers 503 while the camera does not answer. Set
# FOURCUT_HEALTH_URL too when server.listen is not tcp:8080.
ENV FOURCUT_HEALTH_URL=http://127.0.0.1:8080/health
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['FOURCUT_HEALTH_URL'], timeout=4)"]
ENTRYPOINT ["twistd", "--nodaemon", "--pidfile=", "fourcut"]
CMD []
