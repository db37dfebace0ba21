{
  "targets": [
    {
      "target_name": "ferrolb_nfqueue",
      "sources": ["nfqueue.c", "packet.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
