#!/usr/bin/env bash
# meshplane-iptables.sh start|stop
#
# On EC2 or on-premises hosts, does what ECS does for a task definition with a
# proxyConfiguration of type APPMESH: inbound TCP to the app ports goes to Envoy's
# ingress listener (15000), outbound TCP goes to Envoy's egress listener (15001),
# except Envoy's own traffic (UID 1337), the ECS/EC2 metadata addresses and ignored ports.
set -euo pipefail

APPMESH_IGNORE_UID="${APPMESH_IGNORE_UID:-1337}"
APPMESH_APP_PORTS="${APPMESH_APP_PORTS:-}"
APPMESH_ENVOY_INGRESS_PORT="${APPMESH_ENVOY_INGRESS_PORT:-15000}"
APPMESH_ENVOY_EGRESS_PORT="${APPMESH_ENVOY_EGRESS_PORT:-15001}"
APPMESH_EGRESS_IGNORED_IP="${APPMESH_EGRESS_IGNORED_IP:-169.254.170.2,169.254.169.254}"
APPMESH_EGRESS_IGNORED_PORTS="${APPMESH_EGRESS_IGNORED_PORTS:-22}"
IPTABLES="${IPTABLES:-iptables}"

start() {
    "$IPTABLES" -t nat -N APPMESH_EGRESS
    "$IPTABLES" -t nat -A APPMESH_EGRESS -m owner --uid-owner "$APPMESH_IGNORE_UID" -j RETURN
    if [ -n "$APPMESH_EGRESS_IGNORED_PORTS" ]; then
        "$IPTABLES" -t nat -A APPMESH_EGRESS -p tcp -m multiport --dports "$APPMESH_EGRESS_IGNORED_PORTS" -j RETURN
    fi
    if [ -n "$APPMESH_EGRESS_IGNORED_IP" ]; then
        "$IPTABLES" -t nat -A APPMESH_EGRESS -p tcp -d "$APPMESH_EGRESS_IGNORED_IP" -j RETURN
    fi
    "$IPTABLES" -t nat -A APPMESH_EGRESS -p tcp -j REDIRECT --to-ports "$APPMESH_ENVOY_EGRESS_PORT"
    "$IPTABLES" -t nat -A OUTPUT -p tcp -m addrtype ! --dst-type LOCAL -j APPMESH_EGRESS

    if [ -n "$APPMESH_APP_PORTS" ]; then
        "$IPTABLES" -t nat -N APPMESH_INGRESS
        "$IPTABLES" -t nat -A APPMESH_INGRESS -p tcp -m multiport --dports "$APPMESH_APP_PORTS" \
            -j REDIRECT --to-ports "$APPMESH_ENVOY_INGRESS_PORT"
        "$IPTABLES" -t nat -A PREROUTING -p tcp -m addrtype ! --src-type LOCAL -j APPMESH_INGRESS
    fi
}

stop() {
    "$IPTABLES" -t nat -D OUTPUT -p tcp -m addrtype ! --dst-type LOCAL -j APPMESH_EGRESS 2>/dev/null || true
    "$IPTABLES" -t nat -F APPMESH_EGRESS 2>/dev/null || true
    "$IPTABLES" -t nat -X APPMESH_EGRESS 2>/dev/null || true
    "$IPTABLES" -t nat -D PREROUTING -p tcp -m addrtype ! --src-type LOCAL -j APPMESH_INGRESS 2>/dev/null || true
    "$IPTABLES" -t nat -F APPMESH_INGRESS 2>/dev/null || true
    "$IPTABLES" -t nat -X APPMESH_INGRESS 2>/dev/null || true
}

case "${1:-}" in
    start) stop; start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
