"""Python implementations behind the JS runtime's host functions (see js/host.js), one module per family."""
