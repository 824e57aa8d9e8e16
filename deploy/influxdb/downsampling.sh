#!/bin/sh
# Hourly downsampling on InfluxDB 2.x: what heatwatch.retention does on 1.x with a retention
# policy and continuous queries, done with a second bucket and a task (docs/deployment.md,
# "Retention and downsampling").
#
#   raw readings     bucket $INFLUX_BUCKET         retention $INFLUX_RETENTION (set at init)
#   hourly points    bucket $INFLUX_HOURLY_BUCKET  retention $INFLUX_HOURLY_RETENTION
#   InfluxQL         DBRP $INFLUX_BUCKET/hourly -> the hourly bucket, so the dashboards' and
#                    the API's "hourly"."telemetry" reads it through the v1 query API
#   task             heatwatch-hourly: every hour, the last two whole hours (late readings
#                    land in their hour), mean/min/max/last of every numeric field, written
#                    as <field>, <field>_min, <field>_max, <field>_last as on 1.x
#
# Run by scoped-tokens.sh (the one-shot influxdb-tokens service) when INFLUX_HOURLY_BUCKET is
# set, before the tokens are made, so the API's and Grafana's tokens can read the new bucket.
# Idempotent: an existing bucket and mapping are kept, the task is updated to this definition.
# The field lists are heatwatch.retention.MEASUREMENTS (a test compares them).
set -eu
: "${INFLUX_BUCKET:?INFLUX_BUCKET: the raw bucket}"
: "${INFLUX_HOURLY_BUCKET:?INFLUX_HOURLY_BUCKET: the hourly bucket}"
: "${INFLUX_ORG:?INFLUX_ORG: the organisation}"
HOURLY_RETENTION=${INFLUX_HOURLY_RETENTION:-43680h}  # 260 weeks
HOURLY_RP=${INFLUX_HOURLY_RP:-hourly}                # heatwatch.retention.HOURLY_POLICY
TASK=heatwatch-hourly

bucket_id() {
  influx bucket list --name "$1" --hide-headers | awk 'NR == 1 {print $1}'
}

if [ -z "$(bucket_id "$INFLUX_HOURLY_BUCKET")" ]; then
  influx bucket create --name "$INFLUX_HOURLY_BUCKET" --retention "$HOURLY_RETENTION" > /dev/null
  echo "downsampling: bucket $INFLUX_HOURLY_BUCKET created (retention $HOURLY_RETENTION)"
fi
hourly=$(bucket_id "$INFLUX_HOURLY_BUCKET")

if [ -z "$(influx v1 dbrp list --db "$INFLUX_BUCKET" --rp "$HOURLY_RP" --hide-headers)" ]; then
  influx v1 dbrp create --db "$INFLUX_BUCKET" --rp "$HOURLY_RP" --bucket-id "$hourly" > /dev/null
  echo "downsampling: InfluxQL $INFLUX_BUCKET.$HOURLY_RP reads bucket $INFLUX_HOURLY_BUCKET"
fi

flux=$(mktemp)
trap 'rm -f "$flux"' EXIT
cat > "$flux" <<FLUX
import "date"

option task = {name: "$TASK", every: 1h, offset: 5m}

telemetry = ["supply_temp", "return_temp", "supply_setpoint", "primary_supply_temp", "primary_return_temp", "supply_pressure", "return_pressure", "primary_supply_pressure", "primary_return_pressure", "flow", "primary_flow", "makeup_flow", "tank_level", "pump_freq", "heat_power", "heat_energy", "outdoor_temp"]
meter = ["indoor_temp", "humidity", "supply_temp", "return_temp", "flow", "heat_energy"]
stop = date.truncate(t: now(), unit: 1h)

raw = from(bucket: "$INFLUX_BUCKET")
    |> range(start: date.sub(d: 2h, from: stop), stop: stop)
    |> filter(fn: (r) => r._measurement == "telemetry" and contains(value: r._field, set: telemetry)
        or r._measurement == "meter" and contains(value: r._field, set: meter))

hourly = (fn, suffix) => raw
    |> aggregateWindow(every: 1h, fn: fn, createEmpty: false, timeSrc: "_start")
    |> map(fn: (r) => ({r with _field: r._field + suffix}))
    |> to(bucket: "$INFLUX_HOURLY_BUCKET")
    |> yield(name: "hourly" + suffix)

hourly(fn: mean, suffix: "")
hourly(fn: min, suffix: "_min")
hourly(fn: max, suffix: "_max")
hourly(fn: last, suffix: "_last")
FLUX

task_id=$(influx task list --hide-headers | awk -v t="$TASK" '$2 == t {print $1; exit}')
if [ -n "$task_id" ]; then
  influx task update --id "$task_id" --file "$flux" > /dev/null
  echo "downsampling: task $TASK updated"
else
  influx task create --org "$INFLUX_ORG" --file "$flux" > /dev/null
  echo "downsampling: task $TASK created"
fi
