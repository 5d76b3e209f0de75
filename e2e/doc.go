// Package e2e holds the end-to-end tests: the netspec binary serves inside a
// lab's server namespace on an AF_PACKET socket, and real Linux clients (curl,
// ping, the kernel's TCP through Go's net package) talk to it from the client
// namespace. Each test builds its own uniquely named lab and removes it on exit;
// without root the tests skip with a message.
package e2e
