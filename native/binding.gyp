{
  "targets": [
    {
      "target_name": "ferrolb_nfqueue",
      "sources": ["nfqueue.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
