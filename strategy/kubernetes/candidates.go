package kubernetes

//lint:file-ignore SA1019 the endpoints lookup mode reads the deprecated core v1 Endpoints on purpose

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// sliceCandidates reads the endpoints of an EndpointSlice. The first
// address of an endpoint is its address (the others are fungible, per the
// API). Conditions follow the API's nil rules: ready and serving default to
// true, terminating to false; serving unset falls back to ready.
func sliceCandidates(es *discoveryv1.EndpointSlice) []candidate {
	var out []candidate
	for i, ep := range es.Endpoints {
		c := candidate{namespace: es.Namespace, ready: true, serving: true}
		if ep.TargetRef != nil && ep.TargetRef.Namespace != "" {
			c.namespace = ep.TargetRef.Namespace
		}
		if len(ep.Addresses) > 0 {
			c.ip = ep.Addresses[0]
		}
		if ep.Hostname != nil {
			c.hostname = *ep.Hostname
		}
		if ep.Conditions.Ready != nil {
			c.ready = *ep.Conditions.Ready
		}
		c.serving = c.ready
		if ep.Conditions.Serving != nil {
			c.serving = *ep.Conditions.Serving
		}
		if ep.Conditions.Terminating != nil {
			c.terminating = *ep.Conditions.Terminating
		}
		c.what = fmt.Sprintf("EndpointSlice %s/%s endpoint %s", es.Namespace, es.Name, describeEndpoint(i, c.ip, ep.TargetRef))
		if c.ip == "" {
			c.what = fmt.Sprintf("EndpointSlice %s/%s endpoint #%d", es.Namespace, es.Name, i+1)
		}
		out = append(out, c)
	}
	return out
}

func describeEndpoint(i int, ip string, ref *corev1.ObjectReference) string {
	s := ip
	if s == "" {
		s = fmt.Sprintf("#%d", i+1)
	}
	if ref != nil && ref.Name != "" {
		s += " (" + ref.Kind + " " + ref.Name + ")"
	}
	return s
}

// endpointsCandidates reads core v1 Endpoints: addresses are ready,
// notReadyAddresses are not. Endpoints carry no terminating flag; the
// endpoints controller lists a terminating pod as not ready, or drops it.
func endpointsCandidates(ep *corev1.Endpoints) []candidate {
	var out []candidate
	add := func(a corev1.EndpointAddress, ready bool) {
		c := candidate{ip: a.IP, hostname: a.Hostname, namespace: ep.Namespace, ready: ready, serving: ready}
		if a.TargetRef != nil && a.TargetRef.Namespace != "" {
			c.namespace = a.TargetRef.Namespace
		}
		list := "addresses"
		if !ready {
			list = "notReadyAddresses"
		}
		c.what = fmt.Sprintf("Endpoints %s/%s %s %s", ep.Namespace, ep.Name, list, describeEndpoint(0, a.IP, a.TargetRef))
		out = append(out, c)
	}
	for _, ss := range ep.Subsets {
		for _, a := range ss.Addresses {
			add(a, true)
		}
		for _, a := range ss.NotReadyAddresses {
			add(a, false)
		}
	}
	return out
}

// podCandidates reads a Pod: ready when Running with condition Ready=True,
// terminating when it has a deletion timestamp. A pod without an IP yet is
// still a candidate, so explain shows it (it is dropped with the reason).
func podCandidates(p *corev1.Pod) []candidate {
	ready := false
	if p.Status.Phase == corev1.PodRunning {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady {
				ready = cond.Status == corev1.ConditionTrue
			}
		}
	}
	c := candidate{
		ip:          p.Status.PodIP,
		hostname:    p.Spec.Hostname,
		namespace:   p.Namespace,
		ready:       ready,
		serving:     ready,
		terminating: p.DeletionTimestamp != nil,
		what:        fmt.Sprintf("Pod %s/%s %s (%s)", p.Namespace, p.Name, p.Status.PodIP, p.Status.Phase),
	}
	if c.ip == "" {
		c.what = fmt.Sprintf("Pod %s/%s (%s, no IP yet)", p.Namespace, p.Name, p.Status.Phase)
	}
	return []candidate{c}
}

// candidatesOf dispatches on the object type; other types yield nothing.
func candidatesOf(obj any) []candidate {
	switch o := obj.(type) {
	case *discoveryv1.EndpointSlice:
		return sliceCandidates(o)
	case *corev1.Endpoints:
		return endpointsCandidates(o)
	case *corev1.Pod:
		return podCandidates(o)
	}
	return nil
}
