#!/usr/bin/env node
import { runFerrolb } from '../dist/src/daemon/main.js';
runFerrolb();
