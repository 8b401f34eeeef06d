package main

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The rules beyond the API types: what the API server would accept but the manifests must not
// do, because a pod would never start or become ready, a selector would match nothing, or a
// promise of deploy/README.md (probes, limits, non-root, read-only root, secrets by
// reference, default-deny network, scrape annotations) would be broken.

// workload is the pod-template part of a Deployment, StatefulSet, DaemonSet, Job or CronJob.
type workload struct {
	o           object
	selector    *metav1.LabelSelector
	template    *corev1.PodTemplateSpec
	claims      map[string]bool // StatefulSet volumeClaimTemplates
	longRunning bool
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func workloadOf(o object) *workload {
	switch w := o.obj.(type) {
	case *appsv1.Deployment:
		return &workload{o: o, selector: w.Spec.Selector, template: &w.Spec.Template, longRunning: true}
	case *appsv1.DaemonSet:
		return &workload{o: o, selector: w.Spec.Selector, template: &w.Spec.Template, longRunning: true}
	case *appsv1.StatefulSet:
		claims := map[string]bool{}
		for _, c := range w.Spec.VolumeClaimTemplates {
			claims[c.Name] = true
		}
		return &workload{o: o, selector: w.Spec.Selector, template: &w.Spec.Template, claims: claims, longRunning: true}
	case *batchv1.Job:
		return &workload{o: o, selector: w.Spec.Selector, template: &w.Spec.Template}
	case *batchv1.CronJob:
		return &workload{o: o, template: &w.Spec.JobTemplate.Spec.Template}
	}
	return nil
}

// matches: every matchLabels pair is in labels (matchExpressions are not used here).
func matches(selector map[string]string, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func isSluiceImage(image string) bool {
	name := image
	if i := strings.LastIndex(name, "@"); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	return name == "sluice" || strings.HasSuffix(name, "/sluice")
}

func (v *validator) crossChecks() {
	secrets := map[string]map[string]bool{}
	configMaps := map[string]map[string]bool{}
	services := map[string]*corev1.Service{}
	var workloads []*workload
	byKindName := map[string]object{}
	namespaces := map[string]bool{}
	for _, o := range v.objects {
		byKindName[o.gvk.Kind+"/"+o.name] = o
		switch t := o.obj.(type) {
		case *corev1.Secret:
			keys := map[string]bool{}
			for k := range t.Data {
				keys[k] = true
			}
			for k := range t.StringData {
				keys[k] = true
			}
			secrets[t.Name] = keys
		case *corev1.ConfigMap:
			keys := map[string]bool{}
			for k := range t.Data {
				keys[k] = true
			}
			for k := range t.BinaryData {
				keys[k] = true
			}
			configMaps[t.Name] = keys
		case *corev1.Service:
			services[t.Name] = t
		case *corev1.Namespace:
			namespaces[t.Name] = true
		}
		if w := workloadOf(o); w != nil {
			workloads = append(workloads, w)
		}
		if meta, ok := o.obj.(metav1.Object); ok {
			if _, isNS := o.obj.(*corev1.Namespace); !isNS && meta.GetNamespace() == "" {
				v.problem(o.where, "no metadata.namespace (the overlay's namespace: sets it)")
			}
		}
	}
	for _, o := range v.objects {
		meta, ok := o.obj.(metav1.Object)
		if !ok {
			continue
		}
		if ns := meta.GetNamespace(); ns != "" && len(namespaces) > 0 && !namespaces[ns] {
			v.problem(o.where, "namespace %s is not created by the manifests", ns)
		}
	}
	wlByKindName := map[string]object{}
	for _, w := range workloads {
		wlByKindName[w.o.gvk.Kind+"/"+w.o.name] = w.o
		v.checkWorkload(w, secrets, configMaps, services)
		v.checkPodSecurity(w)
	}
	podsMatching := func(sel map[string]string) []*workload {
		var out []*workload
		for _, w := range workloads {
			if len(sel) > 0 && matches(sel, w.template.Labels) {
				out = append(out, w)
			}
		}
		return out
	}
	defaultDeny := false
	for _, o := range v.objects {
		switch t := o.obj.(type) {
		case *corev1.Service:
			matched := podsMatching(t.Spec.Selector)
			if len(matched) == 0 {
				v.problem(o.where, "selector %v matches no workload's pods", t.Spec.Selector)
				continue
			}
			for _, p := range t.Spec.Ports {
				target := p.TargetPort
				if target.Type == intstr.Int && target.IntVal == 0 {
					target = intstr.FromInt32(p.Port)
				}
				for _, w := range matched {
					if !hasPort(w.template.Spec.Containers, target) {
						v.problem(o.where, "port %s: targetPort %s is no container port of %s", p.Name, target.String(), w.o.name)
					}
				}
			}
		case *policyv1.PodDisruptionBudget:
			if t.Spec.Selector == nil || len(podsMatching(t.Spec.Selector.MatchLabels)) == 0 {
				v.problem(o.where, "selector matches no workload's pods")
			}
			if t.Spec.MinAvailable == nil && t.Spec.MaxUnavailable == nil {
				v.problem(o.where, "neither minAvailable nor maxUnavailable")
			}
		case *networkingv1.NetworkPolicy:
			sel := t.Spec.PodSelector
			if len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 &&
				len(t.Spec.Ingress) == 0 && len(t.Spec.Egress) == 0 && len(t.Spec.PolicyTypes) == 2 {
				defaultDeny = true
			}
		case *ScaledObject:
			v.checkScaledObject(o, t, wlByKindName)
		}
	}
	if len(workloads) > 0 && !defaultDeny {
		v.problem("manifests", "no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules)")
	}
}

func hasPort(containers []corev1.Container, port intstr.IntOrString) bool {
	for _, c := range containers {
		for _, p := range c.Ports {
			if (port.Type == intstr.String && p.Name == port.StrVal) ||
				(port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
				return true
			}
		}
	}
	return false
}

func (v *validator) checkWorkload(w *workload, secrets, configMaps map[string]map[string]bool,
	services map[string]*corev1.Service) {
	where := w.o.where
	labels := w.template.Labels
	switch {
	case w.selector == nil && w.longRunning:
		v.problem(where, "spec.selector is required")
	case w.selector != nil && !matches(w.selector.MatchLabels, labels):
		v.problem(where, "selector %v does not match the pod template's labels %v", w.selector.MatchLabels, labels)
	}
	if sts, ok := w.o.obj.(*appsv1.StatefulSet); ok {
		if sts.Spec.ServiceName != "" && services[sts.Spec.ServiceName] == nil {
			v.problem(where, "serviceName %s is no Service", sts.Spec.ServiceName)
		}
	}
	pod := &w.template.Spec
	if !w.longRunning && pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
		v.problem(where, "a Job's pod needs restartPolicy OnFailure or Never")
	}
	volumes := map[string]corev1.Volume{}
	for _, vol := range pod.Volumes {
		volumes[vol.Name] = vol
		if cm := vol.ConfigMap; cm != nil {
			keys, ok := configMaps[cm.Name]
			if !ok && (cm.Optional == nil || !*cm.Optional) {
				v.problem(where, "volume %s: no ConfigMap %s", vol.Name, cm.Name)
			}
			for _, it := range cm.Items {
				if ok && !keys[it.Key] {
					v.problem(where, "volume %s: no key %s in ConfigMap %s", vol.Name, it.Key, cm.Name)
				}
			}
		}
		if s := vol.Secret; s != nil {
			v.secretRef(where, secrets, s.SecretName, "")
		}
	}
	podNonRoot := pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot
	if len(pod.Containers) == 0 {
		v.problem(where, "no containers")
	}
	sluice := false
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		cw := fmt.Sprintf("%s container %q", where, c.Name)
		if c.Name == "" {
			v.problem(where, "a container without a name")
		}
		if c.Image == "" {
			v.problem(cw, "image is required")
		}
		for _, part := range []struct {
			name string
			list corev1.ResourceList
		}{{"requests", c.Resources.Requests}, {"limits", c.Resources.Limits}} {
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := part.list[r]; !ok {
					v.problem(cw, "resources.%s.%s is required", part.name, r)
				}
			}
		}
		for r, req := range c.Resources.Requests {
			if lim, ok := c.Resources.Limits[r]; ok && req.Cmp(lim) > 0 {
				v.problem(cw, "request %s %s above its limit %s", r, req.String(), lim.String())
			}
		}
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok && !w.claims[m.Name] {
				v.problem(cw, "volumeMount %s has no volume", m.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				v.secretRef(fmt.Sprintf("%s env %s", cw, e.Name), secrets, r.Name, r.Key)
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				if keys, ok := configMaps[r.Name]; !ok || !keys[r.Key] {
					v.problem(cw, "env %s: no key %s in ConfigMap %s", e.Name, r.Key, r.Name)
				}
			}
		}
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				v.secretRef(cw, secrets, e.SecretRef.Name, "")
			}
		}
		sc := c.SecurityContext
		nonRoot := podNonRoot || (sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)
		if !nonRoot {
			v.problem(cw, "runAsNonRoot is not set (pod or container)")
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			v.problem(cw, "allowPrivilegeEscalation must be false")
		}
		if isSluiceImage(c.Image) {
			sluice = true
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				v.problem(cw, "a Sluice container needs readOnlyRootFilesystem: true (emptyDir for writable paths)")
			}
		}
		if w.longRunning {
			for _, p := range []struct {
				name  string
				probe *corev1.Probe
			}{{"readinessProbe", c.ReadinessProbe}, {"livenessProbe", c.LivenessProbe}, {"startupProbe", c.StartupProbe}} {
				if p.probe == nil {
					if p.name != "startupProbe" {
						v.problem(cw, "no %s", p.name)
					}
					continue
				}
				var port *intstr.IntOrString
				if h := p.probe.HTTPGet; h != nil {
					port = &h.Port
					if !strings.HasPrefix(h.Path, "/") {
						v.problem(cw, "%s path %q", p.name, h.Path)
					}
				} else if t := p.probe.TCPSocket; t != nil {
					port = &t.Port
				} else if p.probe.Exec == nil && p.probe.GRPC == nil {
					v.problem(cw, "%s has no handler", p.name)
				}
				if port != nil && !hasPort([]corev1.Container{c}, *port) {
					v.problem(cw, "%s port %s is no port of the container", p.name, port.String())
				}
			}
		}
	}
	if sluice && w.longRunning {
		a := w.template.Annotations
		if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] == "" {
			v.problem(where, "pod template lacks prometheus.io/scrape: \"true\" and prometheus.io/path")
		}
		port := intstr.Parse(a["prometheus.io/port"])
		if a["prometheus.io/port"] == "" || port.Type != intstr.Int || !hasPort(pod.Containers, port) {
			v.problem(where, "prometheus.io/port %q is no container port", a["prometheus.io/port"])
		}
	}
}

func (v *validator) secretRef(where string, secrets map[string]map[string]bool, name, key string) {
	if v.externalSecret[name] {
		return
	}
	keys, ok := secrets[name]
	if !ok {
		v.problem(where, "no Secret %s in the manifests (an operator-created one: -external-secret %s)", name, name)
	} else if key != "" && !keys[key] {
		v.problem(where, "no key %s in Secret %s", key, name)
	}
}
