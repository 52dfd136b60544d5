// Package cmtest drives the shipped config-management examples
// (examples/ansible, examples/puppet) with the real tools, Debian's
// ansible-core and puppet, against a lab cluster (subnet 198.18.13.0/24).
// It has no code of its own: everything is in its tests.
package cmtest
