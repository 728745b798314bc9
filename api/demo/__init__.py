"""The bundled demo district (示范区), built by ``tools/build_demo_district.py``."""
