package kubernetes_test

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/labops/labops/internal/cli"
)

// TestServe checks the serve Deployment against its command line and
// labops.yaml, and the Service in front of it.
func TestServe(t *testing.T) {
	t.Parallel()
	objs := build(t, "serve")
	cm, file := configMapOf(t, objs)
	deps := ofKind[*appsv1.Deployment](objs)
	if len(deps) != 1 {
		t.Fatalf("serve has %d Deployments, want 1", len(deps))
	}
	d := deps[0]
	where := "Deployment " + d.Name
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("%s: replicas %s, want 1: two schedulers run every job twice", where, show(d.Spec.Replicas))
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("%s: strategy %q, want Recreate: the old pod must let go of the SQLite history first", where, d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template.Spec
	c := labopsContainer(t, where, pod)
	args := labopsArgs(t, where, c)
	if err := cli.CheckArgs(args); err != nil {
		t.Errorf("%s: %v", where, err)
	}
	if len(args) == 0 || args[0] != "serve" || flagValue(args, "config") != configPath {
		t.Fatalf("%s: labops %s, want labops serve --config %s ...", where, strings.Join(args, " "), configPath)
	}
	data := flagValue(args, "data")
	if data == "" || !strings.HasPrefix(data, stateRoot) {
		t.Errorf("%s: --data %q, want a directory under %s on a volume: the run history must outlive the pod", where, data, stateRoot)
	}
	// serve runs every job: each one's secrets and state must be there.
	f := loadConfig(t, where, file, podEnv(c))
	checkPod(t, where, pod, cm, file, f.Names(), strings.TrimSuffix(data, "/")+"/history.db")

	port := containerPort(t, where, c)
	host, p, err := net.SplitHostPort(flagValue(args, "listen"))
	if err != nil || host != "0.0.0.0" || p != strconv.Itoa(int(port.ContainerPort)) {
		t.Errorf("%s: --listen %q, want 0.0.0.0:%d (the container port %s; the default 127.0.0.1 is unreachable from the Service)",
			where, flagValue(args, "listen"), port.ContainerPort, port.Name)
	}
	grace := 30 * time.Second // serve's default
	if g := flagValue(args, "shutdown-grace"); g != "" {
		if grace, err = time.ParseDuration(g); err != nil {
			t.Errorf("%s: --shutdown-grace %q: %v", where, g, err)
		}
	}
	if tg := pod.TerminationGracePeriodSeconds; tg == nil || time.Duration(*tg)*time.Second <= grace {
		t.Errorf("%s: terminationGracePeriodSeconds %s, want more than --shutdown-grace %s, so running jobs can finish", where, show(tg), grace)
	}
	for name, pr := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if pr == nil || pr.HTTPGet == nil {
			t.Errorf("%s: no %s httpGet, want one of /healthz on port %s", where, name, port.Name)
		} else if g := pr.HTTPGet; g.Path != "/healthz" || !portIs(g.Port, port) {
			t.Errorf("%s: %s gets %s on port %s, want /healthz on port %s", where, name, g.Path, g.Port.String(), port.Name)
		}
	}

	svcs := ofKind[*corev1.Service](objs)
	if len(svcs) != 1 {
		t.Fatalf("serve has %d Services, want 1", len(svcs))
	}
	svc := svcs[0]
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("Service %s: selector %v does not select the Deployment's pods %v", svc.Name, svc.Spec.Selector, d.Spec.Template.Labels)
	}
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("%s: selector %v does not match its own pod template", where, d.Spec.Selector)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
		return sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal == port.Name
	}) {
		t.Errorf("Service %s: no port targets the container port by its name %q", svc.Name, port.Name)
	}
}

// containerPort is the container's one named port.
func containerPort(t *testing.T, where string, c corev1.Container) corev1.ContainerPort {
	t.Helper()
	if len(c.Ports) != 1 || c.Ports[0].Name == "" {
		t.Fatalf("%s: ports %v, want one named port", where, c.Ports)
	}
	return c.Ports[0]
}

func portIs(p intstr.IntOrString, cp corev1.ContainerPort) bool {
	if p.Type == intstr.String {
		return p.StrVal == cp.Name
	}
	return p.IntVal == cp.ContainerPort
}

// TestServiceMonitors: every ServiceMonitor keeps the labops job label
// (honorLabels) and scrapes something real: a Service of the same build by
// one of its port names, or the Pushgateway that push.pushgateway.url in
// labops.yaml names.
func TestServiceMonitors(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"cronjobs", "serve"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			objs := build(t, dir)
			_, file := configMapOf(t, objs)
			f := loadConfig(t, "labops.yaml", file, map[string]string{"POD_NAMESPACE": "labops"})
			sms := ofKind[*monitoringv1.ServiceMonitor](objs)
			if len(sms) == 0 {
				t.Fatalf("%s has no ServiceMonitor: nothing would scrape the jobs' metrics", dir)
			}
			pushgateways := 0
			for _, sm := range sms {
				where := "ServiceMonitor " + sm.Name
				if len(sm.Spec.Endpoints) == 0 {
					t.Errorf("%s: no endpoints", where)
				}
				for i, ep := range sm.Spec.Endpoints {
					if !ep.HonorLabels {
						t.Errorf("%s: endpoints[%d] without honorLabels: true, the job label would be the scrape job's, not the labops job's", where, i)
					}
				}
				sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
				if err != nil || sel.Empty() {
					t.Errorf("%s: selector %v: %v", where, sm.Spec.Selector, err)
					continue
				}
				var matched []*corev1.Service
				for _, svc := range ofKind[*corev1.Service](objs) {
					if sel.Matches(labels.Set(svc.Labels)) {
						matched = append(matched, svc)
					}
				}
				if len(matched) == 0 {
					checkPushgatewayMonitor(t, where, sm, f.Push.Pushgateway.URL)
					pushgateways++
					continue
				}
				for _, svc := range matched {
					if ns := sm.Spec.NamespaceSelector; ns.Any || len(ns.MatchNames) > 0 {
						t.Errorf("%s: selects Service %s of its own namespace, but has a namespaceSelector %+v", where, svc.Name, ns)
					}
					for i, ep := range sm.Spec.Endpoints {
						if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == ep.Port && ep.Port != "" }) {
							t.Errorf("%s: endpoints[%d].port %q is not a port name of Service %s", where, i, ep.Port, svc.Name)
						}
					}
				}
			}
			if dir == "cronjobs" && pushgateways != 1 {
				t.Errorf("cronjobs: %d ServiceMonitors for the Pushgateway, want 1", pushgateways)
			}
		})
	}
}

// checkPushgatewayMonitor: a ServiceMonitor selecting no Service of its
// build must scrape the Pushgateway of push.pushgateway.url: its namespace
// is the URL's <service>.<namespace>.svc.
func checkPushgatewayMonitor(t *testing.T, where string, sm *monitoringv1.ServiceMonitor, pushURL string) {
	t.Helper()
	u, err := url.Parse(pushURL)
	where += " (it selects no Service of this build, so it must be the Pushgateway's)"
	if err != nil || pushURL == "" {
		t.Errorf("%s: labops.yaml has no push.pushgateway.url", where)
		return
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) < 3 || parts[2] != "svc" {
		t.Errorf("%s: push.pushgateway.url %s is not <service>.<namespace>.svc...: cannot tell that this monitor scrapes it", where, pushURL)
		return
	}
	if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{parts[1]}) {
		t.Errorf("%s: namespaceSelector %v, want [%s], the namespace of push.pushgateway.url %s", where, sm.Spec.NamespaceSelector.MatchNames, parts[1], pushURL)
	}
	if sm.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != parts[0] {
		t.Errorf("%s: selector %v, want app.kubernetes.io/name: %s, the Service of push.pushgateway.url", where, sm.Spec.Selector.MatchLabels, parts[0])
	}
}
