"""outbound: run Cloudflare outbound Workers for Sandboxes and Containers locally."""
