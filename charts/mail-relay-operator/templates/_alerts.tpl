{{/*
  The alert rules, as a Prometheus rule file's `groups:`. One source for the PrometheusRule and
  for monitoring/mail-relay.rules.yaml (npm run chart:sync renders it with the default values).
  Relay series carry namespace, pod and relay (the MailRelay name, set by the PodMonitor).
*/}}
{{- define "mail-relay-operator.alertGroups" -}}
{{- $r := .Values.prometheusRule }}
{{- $relay := printf "job=%q" $r.relayJob }}
{{- $operator := printf "job=%q" (default (include "mail-relay-operator.name" .) $r.operatorJob) }}
{{- $near := include "mail-relay-operator.number" $r.nearThresholdRatio -}}
groups:
  - name: mail-relay.reputation
    rules:
      - alert: MailRelayBounceRateNearPause
        expr: |-
          max by (namespace, relay, domain) (mailrelay_domain_bounce_rate{ {{- $relay -}} })
            >= {{ $near }} * {{ include "mail-relay-operator.number" $r.maxBounceRate }}
          unless on (namespace, relay, domain)
          max by (namespace, relay, domain) (mailrelay_domain_paused{ {{- $relay -}} }) == 1
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: {{ `Bounce rate of {{ $labels.domain }} is close to its pause threshold` | quote }}
          description: {{ printf "Relay {{ $labels.namespace }}/{{ $labels.relay }} sees a bounce rate of {{ $value | humanizePercentage }} for {{ $labels.domain }}; at %s the domain is paused (SendingDomain spec.reputation.maxBounceRate). Check the recipient list and recent bounces." (include "mail-relay-operator.number" $r.maxBounceRate) | quote }}
      - alert: MailRelayComplaintRateNearPause
        expr: |-
          max by (namespace, relay, domain) (mailrelay_domain_complaint_rate{ {{- $relay -}} })
            >= {{ $near }} * {{ include "mail-relay-operator.number" $r.maxComplaintRate }}
          unless on (namespace, relay, domain)
          max by (namespace, relay, domain) (mailrelay_domain_paused{ {{- $relay -}} }) == 1
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: {{ `Complaint rate of {{ $labels.domain }} is close to its pause threshold` | quote }}
          description: {{ printf "Relay {{ $labels.namespace }}/{{ $labels.relay }} sees a complaint rate of {{ $value | humanizePercentage }} for {{ $labels.domain }}; at %s the domain is paused (SendingDomain spec.reputation.maxComplaintRate). Check what is being sent and to whom." (include "mail-relay-operator.number" $r.maxComplaintRate) | quote }}
      - alert: MailRelayDomainPaused
        expr: |-
          max by (namespace, relay, domain) (mailrelay_domain_paused{ {{- $relay -}} }) == 1
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: {{ `Sending domain {{ $labels.domain }} is paused` | quote }}
          description: {{ `Relay {{ $labels.namespace }}/{{ $labels.relay }} holds mail from {{ $labels.domain }} instead of delivering it. See the SendingDomain's Paused condition; clear spec.paused or the reputation breach to release the mail.` | quote }}
  - name: mail-relay.delivery
    rules:
      - alert: MailRelayDown
        expr: |-
          up{ {{- $relay -}} } == 0
        for: 5m
        labels:
          severity: critical
        annotations:
          summary: {{ `Relay pod {{ $labels.namespace }}/{{ $labels.pod }} cannot be scraped` | quote }}
          description: {{ `Prometheus has not reached the metrics endpoint of {{ $labels.namespace }}/{{ $labels.pod }} (relay {{ $labels.relay }}) for 5 minutes. The pod may be down, and its spool is not being delivered.` | quote }}
      - alert: MailRelayQueueOldestMessageOld
        expr: |-
          max by (namespace, relay, pod) (mailrelay_queue_oldest_message_age_seconds{ {{- $relay -}} })
            > {{ include "mail-relay-operator.number" $r.queueOldestAgeSeconds }}
        for: 10m
        labels:
          severity: warning
        annotations:
          summary: {{ `Mail waits long in the queue of {{ $labels.namespace }}/{{ $labels.pod }}` | quote }}
          description: {{ `The oldest message in {{ $labels.namespace }}/{{ $labels.pod }} is {{ $value | humanizeDuration }} old. Destinations may be refusing or deferring it, or a domain is paused.` | quote }}
      - alert: MailRelayDeliveryFailing
        # label_replace keeps the three results apart: rate() drops the names, and `or` would
        # otherwise merge a domain's delivered and deferred series
        expr: |-
          sum by (namespace, relay, domain) (
              label_replace(rate(mailrelay_messages_bounced_total{ {{- $relay -}} }[15m]), "result", "bounced", "", "")
            or
              label_replace(rate(mailrelay_messages_deferred_total{ {{- $relay -}} }[15m]), "result", "deferred", "", "")
          )
            /
          sum by (namespace, relay, domain) (
              label_replace(rate(mailrelay_messages_bounced_total{ {{- $relay -}} }[15m]), "result", "bounced", "", "")
            or
              label_replace(rate(mailrelay_messages_deferred_total{ {{- $relay -}} }[15m]), "result", "deferred", "", "")
            or
              label_replace(rate(mailrelay_messages_delivered_total{ {{- $relay -}} }[15m]), "result", "delivered", "", "")
          )
            > {{ include "mail-relay-operator.number" $r.deliveryFailureRatio }}
        for: 15m
        labels:
          severity: warning
        annotations:
          summary: {{ `Most delivery attempts for {{ $labels.domain }} fail` | quote }}
          description: {{ `{{ $value | humanizePercentage }} of recent recipient attempts from {{ $labels.domain }} on relay {{ $labels.namespace }}/{{ $labels.relay }} bounced or were deferred.` | quote }}
      - alert: MailRelayNoDeliveries
        expr: |-
          (
            sum by (namespace, relay) (increase(mailrelay_messages_delivered_total{ {{- $relay -}} }[30m]))
            or
            0 * sum by (namespace, relay) (mailrelay_queue_messages{ {{- $relay -}} })
          ) == 0
          and on (namespace, relay)
          sum by (namespace, relay) (delta(mailrelay_queue_messages{ {{- $relay }}, state=~"ready|deferred"}[30m])) > 0
        for: 5m
        labels:
          severity: critical
        annotations:
          summary: {{ `Relay {{ $labels.namespace }}/{{ $labels.relay }} delivers nothing while its queue grows` | quote }}
          description: {{ `No recipient was delivered by {{ $labels.namespace }}/{{ $labels.relay }} in 30 minutes and its ready and deferred queue grew. Check the relay's logs, DNS and outbound port 25 or the smarthost.` | quote }}
  - name: mail-relay.events
    rules:
      - alert: MailRelayWebhookBacklogOld
        expr: |-
          max by (namespace, relay, scope, webhook) (mailrelay_webhook_oldest_event_age_seconds{ {{- $relay -}} })
            > {{ include "mail-relay-operator.number" $r.webhookOldestAgeSeconds }}
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: {{ `Webhook {{ $labels.webhook }} ({{ $labels.scope }}) is behind` | quote }}
          description: {{ `The oldest event waiting for webhook {{ $labels.webhook }} (scope {{ $labels.scope }}) on relay {{ $labels.namespace }}/{{ $labels.relay }} is {{ $value | humanizeDuration }} old. The receiver is down, slow or refusing with 5xx; events wait on disk until retryFor passes or the backlog reaches spec.events.maxBacklog, then they are dropped.` | quote }}
      - alert: MailRelayWebhookEventsDropped
        expr: |-
          sum by (namespace, relay, scope, webhook, result) (increase(mailrelay_webhook_events_total{ {{- $relay }}, result=~"rejected|overflow|expired"}[15m])) > 0
        labels:
          severity: warning
        annotations:
          summary: {{ `Webhook {{ $labels.webhook }} ({{ $labels.scope }}) lost events: {{ $labels.result }}` | quote }}
          description: {{ `Relay {{ $labels.namespace }}/{{ $labels.relay }} gave up events for webhook {{ $labels.webhook }} (scope {{ $labels.scope }}) in 15 minutes: rejected means the receiver answered a 4xx that is not retried, overflow that the backlog passed spec.events.maxBacklog, expired that retryFor passed.` | quote }}
      - alert: MailRelayCategoryPaused
        expr: |-
          max by (namespace, relay, domain, category) (mailrelay_category_paused{ {{- $relay -}} }) == 1
        for: 1m
        labels:
          severity: warning
        annotations:
          summary: {{ `Category {{ $labels.category }} of {{ $labels.domain }} is paused` | quote }}
          description: {{ `Relay {{ $labels.namespace }}/{{ $labels.relay }} holds the {{ $labels.category }} mail of {{ $labels.domain }} after a reputation breach of that category; its other categories still flow. See the category's figures in the SendingDomain status and resume it once the cause is fixed.` | quote }}
  - name: mail-relay.operator
    rules:
      - alert: MailRelayOperatorDown
        expr: |-
          up{ {{- $operator -}} } == 0
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: {{ `The mail-relay operator {{ $labels.namespace }}/{{ $labels.pod }} cannot be scraped` | quote }}
          description: {{ `Changes to MailRelay and SendingDomain resources are not being applied while no operator replica runs. Running relays keep working.` | quote }}
      - alert: MailRelayOperatorReconcileErrors
        expr: |-
          sum by (namespace, kind) (rate(mailrelay_operator_reconcile_total{ {{- $operator }}, result="error"}[10m]))
            /
          sum by (namespace, kind) (rate(mailrelay_operator_reconcile_total{ {{- $operator -}} }[10m]))
            > {{ include "mail-relay-operator.number" $r.reconcileErrorRatio }}
        for: 10m
        labels:
          severity: warning
        annotations:
          summary: {{ `Reconciles of {{ $labels.kind }} fail` | quote }}
          description: {{ `{{ $value | humanizePercentage }} of {{ $labels.kind }} reconciles by the operator in {{ $labels.namespace }} failed over 10 minutes. See the resources' Reconciled condition and the operator's logs.` | quote }}
{{- end }}
