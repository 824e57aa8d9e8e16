# heatwatch services image: collector, alert engine, API, simulator and dashboards CLI.
# One image, one `heatwatch` command; docker-compose.yml picks the subcommand per service.
# Base images are pinned to a patch release (tests/deploy checks it): a rebuild gets the same
# interpreter; move the pin on purpose.
FROM python:3.11.11-slim

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
# Dependencies first, in a layer of their own that a code change does not invalidate: the base
# dependencies and the image's extras as pyproject.toml lists them, at the exact versions of
# constraints.txt (the ones the tests passed with; docs/development.md says how to refresh it).
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; x = p['optional-dependencies']; print('\n'.join(p['dependencies'] + x['dashboards'] + x['reports']))" > /tmp/requirements.txt \
 && pip install -c constraints.txt -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt
# Then the code, and heatwatch itself on top (--no-deps: everything it needs is installed).
COPY README.md ./
COPY heatwatch/ heatwatch/
COPY collector/ collector/
COPY alerts/ alerts/
COPY api/ api/
COPY simulators/ simulators/
COPY dashboards/ dashboards/
COPY forecast/ forecast/
COPY households/ households/
RUN pip install --no-deps -c constraints.txt . && pip check && heatwatch --version
# Reads the service's scoped InfluxDB token from INFLUX_TOKEN_FILE (docker-compose.yml).
COPY deploy/docker/entrypoint.sh /usr/local/bin/heatwatch-entrypoint
RUN chmod 0755 /usr/local/bin/heatwatch-entrypoint

USER heatwatch
WORKDIR /var/lib/heatwatch
# SIGTERM stops every service cleanly (the collector flushes or spools its batch first).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/heatwatch-entrypoint"]
CMD ["heatwatch", "--help"]
