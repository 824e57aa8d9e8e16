# heatwatch services image: collector, alert engine, API, simulator and dashboards CLI.
# One image, one `heatwatch` command; docker-compose.yml picks the subcommand per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user, and the state directories the named volumes mount over (a new named
# volume copies the image directory's ownership, so the services can write their spool/state).
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/heatwatch heatwatch \
 && mkdir -p /var/lib/heatwatch/spool /var/lib/heatwatch/alerts /etc/heatwatch \
 && chown -R heatwatch:heatwatch /var/lib/heatwatch

WORKDIR /opt/heatwatch
# Dependencies first (cached while only the code changes), then the packages.
COPY pyproject.toml README.md ./
COPY heatwatch/ heatwatch/
COPY collector/ collector/
COPY alerts/ alerts/
COPY api/ api/
COPY simulators/ simulators/
COPY dashboards/ dashboards/
COPY forecast/ forecast/
COPY households/ households/
RUN pip install ".[dashboards,reports]" && heatwatch --version
# Reads the service's scoped InfluxDB token from INFLUX_TOKEN_FILE (docker-compose.yml).
COPY deploy/docker/entrypoint.sh /usr/local/bin/heatwatch-entrypoint
RUN chmod 0755 /usr/local/bin/heatwatch-entrypoint

USER heatwatch
WORKDIR /var/lib/heatwatch
# SIGTERM stops every service cleanly (the collector flushes or spools its batch first).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/heatwatch-entrypoint"]
CMD ["heatwatch", "--help"]
