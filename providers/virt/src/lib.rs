//! CIM providers for one virtualization host: the host system, its virtual systems, resource pools, services, jobs, metrics and indications, in namespace root/virt.
