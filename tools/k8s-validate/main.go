// k8s-validate checks rendered Kubernetes manifests (the output of `kustomize build`) against
// the Kubernetes API types of k8s.io/api, strictly, and against the rules Sluice's manifests
// promise (deploy/README.md). It needs no cluster and no network.
//
//	k8s-validate [-allow-kind group/version/Kind]... [-external-secret name]... [file.yaml|-]...
//
// Every document is decoded into its Go type (k8s.io/api for built-in kinds, ScaledObject for
// KEDA's one CRD) with unknown fields, duplicate fields, case-insensitive field matches and
// wrong types all errors. A kind it has no type for is an error unless allowed with
// -allow-kind, which checks only apiVersion, kind and metadata.name. The cross-object rules
// are in checks.go. Exit status: 0 all valid, 1 problems found (each printed), 2 usage error.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// object is one decoded document and where it came from.
type object struct {
	where string // file:document-number kind/name
	gvk   schema.GroupVersionKind
	obj   any // *appsv1.StatefulSet, ..., *ScaledObject, or nil for an allowed unknown kind
	name  string
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme,
		networkingv1.AddToScheme, autoscalingv2.AddToScheme, rbacv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// decodeStrict decodes JSON into v: case-sensitive, no unknown or duplicate fields.
func decodeStrict(data []byte, v any) error {
	strict, err := sigsjson.UnmarshalStrict(data, v)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// documents splits a multi-document YAML stream.
func documents(r io.Reader) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

type validator struct {
	scheme         *runtime.Scheme
	allowKinds     map[string]bool // "group/version/Kind" (core: "v1/Kind")
	externalSecret map[string]bool
	problems       []string
	objects        []object
}

func (v *validator) problem(where, format string, args ...any) {
	v.problems = append(v.problems, where+": "+fmt.Sprintf(format, args...))
}

func (v *validator) decode(where string, doc []byte) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		v.problem(where, "YAML: %v", err)
		return
	}
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		v.problem(where, "no object: %v", err)
		return
	}
	if meta.APIVersion == "" || meta.Kind == "" {
		v.problem(where, "apiVersion and kind are required")
		return
	}
	gv, err := schema.ParseGroupVersion(meta.APIVersion)
	if err != nil {
		v.problem(where, "apiVersion %q: %v", meta.APIVersion, err)
		return
	}
	gvk := gv.WithKind(meta.Kind)
	where = fmt.Sprintf("%s %s/%s", where, meta.Kind, meta.Metadata.Name)
	if meta.Metadata.Name == "" {
		v.problem(where, "metadata.name is required")
	}
	o := object{where: where, gvk: gvk, name: meta.Metadata.Name}
	var typed any
	switch {
	case gvk == scaledObjectGVK:
		typed = &ScaledObject{}
	case v.scheme.Recognizes(gvk):
		typed, _ = v.scheme.New(gvk)
	case v.allowKinds[gvk.GroupVersion().String()+"/"+gvk.Kind]:
		v.objects = append(v.objects, o) // allowed, not validated past its metadata
		return
	default:
		known := v.scheme.KnownTypes(gv)
		hint := ""
		if len(known) == 0 {
			hint = fmt.Sprintf(" (no kinds known in %s)", meta.APIVersion)
		}
		v.problem(where, "unknown kind %s%s: not a type of k8s.io/api nor ScaledObject; "+
			"allow it explicitly with -allow-kind %s/%s", gvk.Kind, hint, gvk.GroupVersion().String(), gvk.Kind)
		return
	}
	if err := decodeStrict(js, typed); err != nil {
		v.problem(where, "%v", err)
		return
	}
	o.obj = typed
	v.objects = append(v.objects, o)
}

func main() {
	var allow, external listFlag
	flag.Var(&allow, "allow-kind", "accept this group/version/Kind without a type (repeatable)")
	flag.Var(&external, "external-secret", "a Secret that exists in the cluster but not in the manifests (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: k8s-validate [flags] [file.yaml|-]...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	v := &validator{scheme: newScheme(), allowKinds: map[string]bool{}, externalSecret: map[string]bool{}}
	for _, k := range allow {
		if strings.Count(k, "/") < 1 {
			fmt.Fprintf(os.Stderr, "k8s-validate: -allow-kind %q is not group/version/Kind\n", k)
			os.Exit(2)
		}
		v.allowKinds[k] = true
	}
	for _, s := range external {
		v.externalSecret[s] = true
	}
	files := flag.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, f := range files {
		var r io.Reader = os.Stdin
		if f != "-" {
			fh, err := os.Open(f)
			if err != nil {
				fmt.Fprintf(os.Stderr, "k8s-validate: %v\n", err)
				os.Exit(2)
			}
			defer fh.Close()
			r = fh
		}
		docs, err := documents(r)
		if err != nil {
			v.problem(f, "YAML stream: %v", err)
			continue
		}
		for i, d := range docs {
			v.decode(fmt.Sprintf("%s doc %d", f, i+1), d)
		}
	}
	if len(v.objects) == 0 && len(v.problems) == 0 {
		v.problem(strings.Join(files, ","), "no objects")
	}
	v.crossChecks()
	if len(v.problems) > 0 {
		for _, p := range v.problems {
			fmt.Println(p)
		}
		fmt.Printf("FAILED: %d problem(s) in %d object(s)\n", len(v.problems), len(v.objects))
		os.Exit(1)
	}
	counts := map[string]int{}
	for _, o := range v.objects {
		counts[o.gvk.Kind]++
	}
	fmt.Printf("ok: %d objects valid (%s)\n", len(v.objects), summary(counts))
}

func summary(counts map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(counts) {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	return strings.Join(parts, ", ")
}
