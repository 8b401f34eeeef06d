package main

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// KEDA's types are not in k8s.io/api, and importing github.com/kedacore/keda would bring a
// whole operator. This is the subset of keda.sh/v1alpha1 ScaledObject (KEDA 2.x) the manifests
// may use, decoded as strictly as the built-in kinds: a field outside it is an error, so adding
// one means adding it here, checked against KEDA's reference
// (https://keda.sh/docs/latest/reference/scaledobject-spec/).

var scaledObjectGVK = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}

type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ScaledObjectSpec `json:"spec"`
}

type ScaledObjectSpec struct {
	ScaleTargetRef   *ScaleTarget    `json:"scaleTargetRef"`
	PollingInterval  *int32          `json:"pollingInterval,omitempty"`
	InitialCooldown  *int32          `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod   *int32          `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount *int32          `json:"idleReplicaCount,omitempty"`
	MinReplicaCount  *int32          `json:"minReplicaCount,omitempty"`
	MaxReplicaCount  *int32          `json:"maxReplicaCount,omitempty"`
	Fallback         *Fallback       `json:"fallback,omitempty"`
	Triggers         []ScaleTriggers `json:"triggers"`
}

type ScaleTarget struct {
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	Name                   string `json:"name"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

type Fallback struct {
	FailureThreshold int32 `json:"failureThreshold"`
	Replicas         int32 `json:"replicas"`
}

type ScaleTriggers struct {
	Type              string             `json:"type"`
	Name              string             `json:"name,omitempty"`
	UseCachedMetrics  bool               `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string  `json:"metadata"`
	AuthenticationRef *AuthenticationRef `json:"authenticationRef,omitempty"`
	MetricType        string             `json:"metricType,omitempty"`
}

type AuthenticationRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// The Kafka scaler's metadata keys (https://keda.sh/docs/latest/scalers/apache-kafka/).
var kafkaScalerKeys = map[string]bool{
	"bootstrapServers": true, "bootstrapServersFromEnv": true, "consumerGroup": true,
	"consumerGroupFromEnv": true, "topic": true, "topicFromEnv": true, "lagThreshold": true,
	"activationLagThreshold": true, "offsetResetPolicy": true, "allowIdleConsumers": true,
	"scaleToZeroOnInvalidOffset": true, "excludePersistentLag": true, "version": true,
	"partitionLimitation": true, "sasl": true, "tls": true, "unsafeSsl": true,
	"limitToPartitionsWithLag": true, "ensureEvenDistributionOfPartitions": true,
}

func (v *validator) checkScaledObject(o object, so *ScaledObject, workloads map[string]object) {
	s := so.Spec
	if s.ScaleTargetRef == nil || s.ScaleTargetRef.Name == "" {
		v.problem(o.where, "spec.scaleTargetRef.name is required")
	} else {
		kind := s.ScaleTargetRef.Kind
		if kind == "" {
			kind = "Deployment"
		}
		if _, ok := workloads[kind+"/"+s.ScaleTargetRef.Name]; !ok {
			v.problem(o.where, "scaleTargetRef %s/%s is no workload in the manifests", kind, s.ScaleTargetRef.Name)
		}
	}
	if s.MinReplicaCount != nil && s.MaxReplicaCount != nil && *s.MinReplicaCount > *s.MaxReplicaCount {
		v.problem(o.where, "minReplicaCount %d > maxReplicaCount %d", *s.MinReplicaCount, *s.MaxReplicaCount)
	}
	if len(s.Triggers) == 0 {
		v.problem(o.where, "spec.triggers is empty")
	}
	for i, t := range s.Triggers {
		where := fmt.Sprintf("%s trigger %d", o.where, i)
		if t.Type != "kafka" {
			v.problem(where, "type %q: only the kafka scaler is modelled here", t.Type)
			continue
		}
		var unknown []string
		for k := range t.Metadata {
			if !kafkaScalerKeys[k] {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		for _, k := range unknown {
			v.problem(where, "unknown kafka scaler metadata key %q", k)
		}
		for _, k := range []string{"bootstrapServers", "consumerGroup", "topic", "lagThreshold"} {
			if t.Metadata[k] == "" && t.Metadata[k+"FromEnv"] == "" {
				v.problem(where, "kafka scaler metadata %s is required", k)
			}
		}
	}
}
