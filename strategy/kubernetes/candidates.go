package kubernetes

import (
	"encoding/json"
	"fmt"
)

// The strategy decodes only these fields of the API's JSON objects
// (discovery.k8s.io/v1 EndpointSlice, core v1 Endpoints and Pod); the
// JSON names are the API's.

type objectMeta struct {
	Name              string  `json:"name"`
	Namespace         string  `json:"namespace"`
	ResourceVersion   string  `json:"resourceVersion"`
	DeletionTimestamp *string `json:"deletionTimestamp"`
}

type objectReference struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

type endpointSlice struct {
	Metadata  objectMeta `json:"metadata"`
	Endpoints []struct {
		Addresses  []string `json:"addresses"`
		Hostname   *string  `json:"hostname"`
		Conditions struct {
			Ready       *bool `json:"ready"`
			Serving     *bool `json:"serving"`
			Terminating *bool `json:"terminating"`
		} `json:"conditions"`
		TargetRef *objectReference `json:"targetRef"`
	} `json:"endpoints"`
}

type endpointAddress struct {
	IP        string           `json:"ip"`
	Hostname  string           `json:"hostname"`
	TargetRef *objectReference `json:"targetRef"`
}

type endpoints struct {
	Metadata objectMeta `json:"metadata"`
	Subsets  []struct {
		Addresses         []endpointAddress `json:"addresses"`
		NotReadyAddresses []endpointAddress `json:"notReadyAddresses"`
	} `json:"subsets"`
}

type pod struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		Hostname string `json:"hostname"`
	} `json:"spec"`
	Status struct {
		Phase      string `json:"phase"`
		PodIP      string `json:"podIP"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

// sliceCandidates reads the endpoints of an EndpointSlice. The first
// address of an endpoint is its address (the others are fungible, per the
// API). Conditions follow the API's nil rules: ready and serving default to
// true, terminating to false; serving unset falls back to ready.
func sliceCandidates(es *endpointSlice) []candidate {
	var out []candidate
	ns, name := es.Metadata.Namespace, es.Metadata.Name
	for i, ep := range es.Endpoints {
		c := candidate{namespace: ns, ready: true, serving: true}
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
		c.what = fmt.Sprintf("EndpointSlice %s/%s endpoint %s", ns, name, describeEndpoint(i, c.ip, ep.TargetRef))
		if c.ip == "" {
			c.what = fmt.Sprintf("EndpointSlice %s/%s endpoint #%d", ns, name, i+1)
		}
		out = append(out, c)
	}
	return out
}

func describeEndpoint(i int, ip string, ref *objectReference) string {
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
func endpointsCandidates(ep *endpoints) []candidate {
	var out []candidate
	ns, name := ep.Metadata.Namespace, ep.Metadata.Name
	add := func(a endpointAddress, ready bool) {
		c := candidate{ip: a.IP, hostname: a.Hostname, namespace: ns, ready: ready, serving: ready}
		if a.TargetRef != nil && a.TargetRef.Namespace != "" {
			c.namespace = a.TargetRef.Namespace
		}
		list := "addresses"
		if !ready {
			list = "notReadyAddresses"
		}
		c.what = fmt.Sprintf("Endpoints %s/%s %s %s", ns, name, list, describeEndpoint(0, a.IP, a.TargetRef))
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
func podCandidates(p *pod) []candidate {
	ready := false
	if p.Status.Phase == "Running" {
		for _, cond := range p.Status.Conditions {
			if cond.Type == "Ready" {
				ready = cond.Status == "True"
			}
		}
	}
	ns, name := p.Metadata.Namespace, p.Metadata.Name
	c := candidate{
		ip:          p.Status.PodIP,
		hostname:    p.Spec.Hostname,
		namespace:   ns,
		ready:       ready,
		serving:     ready,
		terminating: p.Metadata.DeletionTimestamp != nil,
		what:        fmt.Sprintf("Pod %s/%s %s (%s)", ns, name, p.Status.PodIP, p.Status.Phase),
	}
	if c.ip == "" {
		c.what = fmt.Sprintf("Pod %s/%s (%s, no IP yet)", ns, name, p.Status.Phase)
	}
	return []candidate{c}
}

// object is one decoded API object: its key (namespace/name), its
// resourceVersion and the candidates it holds.
type object struct {
	key, rv string
	cands   []candidate
}

// decodeObject decodes one object of the lookup mode's kind.
func decodeObject(lookup string, raw []byte) (object, error) {
	var meta objectMeta
	var cands []candidate
	var err error
	switch lookup {
	case LookupEndpoints:
		var o endpoints
		err = json.Unmarshal(raw, &o)
		meta, cands = o.Metadata, endpointsCandidates(&o)
	case LookupPods:
		var o pod
		err = json.Unmarshal(raw, &o)
		meta, cands = o.Metadata, podCandidates(&o)
	default:
		var o endpointSlice
		err = json.Unmarshal(raw, &o)
		meta, cands = o.Metadata, sliceCandidates(&o)
	}
	if err != nil {
		return object{}, err
	}
	if meta.Name == "" {
		return object{}, fmt.Errorf("an object without metadata.name")
	}
	return object{key: meta.Namespace + "/" + meta.Name, rv: meta.ResourceVersion, cands: cands}, nil
}
