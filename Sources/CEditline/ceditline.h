#ifndef CEDITLINE_H
#define CEDITLINE_H
#include <stdio.h>
#include <histedit.h>
#endif
