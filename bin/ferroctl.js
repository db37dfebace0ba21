#!/usr/bin/env node
import { runFerroctl } from '../dist/src/cli/main.js';
runFerroctl();
