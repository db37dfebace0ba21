#!/usr/bin/env node
import { runFerrolb } from '../dist/src/main/ferrolb.js';
runFerrolb();
