package main

import (
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// Every pod template must pass the Pod Security Standards "restricted" level, evaluated by
// the admission plugin's own checks (k8s.io/pod-security-admission), as the namespace's
// pod-security.kubernetes.io/enforce: restricted label makes the API server do.
var podSecurity = func() policy.Evaluator {
	e, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		panic(err)
	}
	return e
}()

func (v *validator) checkPodSecurity(w *workload) {
	level := psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}
	result := policy.AggregateCheckResults(podSecurity.EvaluatePod(level, &w.template.ObjectMeta, &w.template.Spec))
	if !result.Allowed {
		v.problem(w.o.where, "violates PodSecurity \"restricted:latest\": %s", result.ForbiddenDetail())
	}
}
